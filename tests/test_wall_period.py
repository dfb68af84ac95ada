"""The wall display rolls over by itself: the period it shows follows the clock and the data."""
import datetime as dt

from dashboard.wall import wall_period


def test_current_month_while_its_data_arrives():
    assert wall_period(dt.date(2026, 11, 30), dt.date(2026, 11, 29)).key == "2026-11"


def test_month_end_rolls_over_when_the_new_month_has_data():
    # just past midnight on the 1st, before the first delivery of December: still November's figures
    assert wall_period(dt.date(2026, 12, 1), dt.date(2026, 11, 30)).key == "2026-11"
    # the first December data published: December
    assert wall_period(dt.date(2026, 12, 1), dt.date(2026, 12, 1)).key == "2026-12"
    # year end
    assert wall_period(dt.date(2027, 1, 1), dt.date(2027, 1, 1)).key == "2027-01"


def test_a_demo_county_that_ends_last_month_shows_its_last_month():
    assert wall_period(dt.date(2026, 11, 21), dt.date(2026, 10, 31)).key == "2026-10"
    assert wall_period(dt.date(2026, 11, 21), None).key == "2026-11"
