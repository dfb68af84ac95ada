import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    """One Debian Chromium per test module, for the browser tests."""
    from support.server import chromium

    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def pattern_demo(tmp_path_factory):
    """The demo county of three months ending 2024-11 (a last month without the Spring Festival), loaded through the
    real ETL once per test run: (its truth's "patterns", the published warehouse directory). The tests of what it
    plays beyond the official rate (test_demo_patterns, test_activity_quality_demo, test_warnings_demo) share it."""
    import datetime as dt

    from core.config import Settings
    from demo import generate
    from etl.pipeline import run

    tmp = tmp_path_factory.mktemp("pattern_demo")
    truth = generate(tmp / "drop", months=3, end_month="2024-11")
    res = run(tmp / "drop", Settings().resolve(tmp), warehouse_dir=tmp / "wh", lake_dir=tmp / "lake",
              load_time=dt.datetime(2024, 12, 5), log=lambda m: None)
    assert res.status == "ok", res.error
    return truth["patterns"], tmp / "wh"


@pytest.fixture(scope="session")
def city(tmp_path_factory):
    """The small city of tests/support/city.py (three hand-built counties in one lake, a city deployment), loaded
    through the real ETL once per test run: a support.city.CityBuild (root, wh, settings)."""
    from support.city import build_city

    return build_city(tmp_path_factory.mktemp("city"))
