"""The load test's machinery (perf/loadtest.py): its verdict from the observations, the bare websocket clients
(perf/wsclient.py) against a real server, one tiny live run each way, and the old command path
`python -m warehouse.loadtest` handing over to `python -m perf loadtest`."""
from __future__ import annotations

import datetime as dt

import pytest

from core import config
from perf import loadtest


def _cycles(times: list[float], t0: float = 1000.0, server_ms: float = 50) -> list[dict]:
    return [{"t": t0 + t, "cycle": str(i), "server_start": t0 + t - 0.2, "server_ms": server_ms}
            for i, t in enumerate(times)]


def _pages(n: int) -> list[dict]:
    return [{"user": 0, "page": p, "round": 1, "s": 0.5} for p in loadtest.PAGES][:n]


def test_a_wall_on_time_keeps_its_interval():
    cyc = _cycles([-20, -10, 0.5, 10.4, 20.6, 30.5, 40.5, 50.4])
    r = loadtest.analyse(_pages(6), [], cyc, cyc[:3], 1000.0, 1055.0, 1, 1, 10)
    assert r["wall_keeps_interval"], r["verdict"]
    assert r["wall_gap_while_busy"]["max_s"] <= 11
    assert r["verdict"][0].startswith("wall KEEPS")


def test_a_skipped_refresh_misses():
    cyc = _cycles([-10, 0.5, 10.4, 29.9, 40.1, 50.2])  # the refresh due at ≈ 20 s never came
    r = loadtest.analyse(_pages(6), [], cyc, cyc[:1], 1000.0, 1055.0, 1, 1, 10)
    assert not r["wall_keeps_interval"]
    assert r["wall_gap_while_busy"]["max_s"] == pytest.approx(19.5, abs=0.01)
    assert "MISSES" in r["verdict"][0]


def test_a_wall_that_stalls_at_the_end_misses():
    # on time until 20 s, then nothing more while the users work on until 55 s: the open wait counts
    cyc = _cycles([-10, 0.5, 10.4, 20.3])
    r = loadtest.analyse(_pages(6), [], cyc, cyc[:1], 1000.0, 1055.0, 1, 1, 10)
    assert not r["wall_keeps_interval"]
    assert r["wall_open_gap_at_end_s"] == pytest.approx(34.7, abs=0.01)
    assert r["wall_gap_while_busy"]["max_s"] == pytest.approx(34.7, abs=0.01)


def test_missing_page_opens_and_errors_are_reported():
    cyc = _cycles([-10, 0.5, 10.4, 20.3, 30.2, 40.4, 50.0])
    r = loadtest.analyse(_pages(4), ["user 1: TimeoutError"], cyc, cyc[:1], 1000.0, 1055.0, 1, 1, 10)
    assert r["verdict"][0].startswith("INCOMPLETE: 4 of 6 page opens, 1 errors")
    assert "error: user 1: TimeoutError" in loadtest.report({**r, "machine": {
        "cores": 2, "loadavg_start": [1, 1, 1], "loadavg_end": [1, 1, 1]}})


@pytest.mark.browser
@pytest.mark.slow
def test_a_tiny_live_run(tmp_path):
    from support.county import sample_county
    from support.server import require_chromium

    require_chromium()
    wh = sample_county().build(tmp_path, settings=config.Settings().resolve(tmp_path),
                               load_time=dt.datetime(2024, 4, 1))
    r = loadtest.run(wh, sessions=2, rounds=1, wall_refresh=2, clients="browser")
    assert r["errors"] == [], r["errors"]
    assert r["clients"] == "browser"
    assert r["page_opens"] == 2 * len(loadtest.PAGES)
    assert r["page_time"]["p50_s"] > 0 and set(r["by_page"]) == set(loadtest.PAGES)
    assert r["wall_cycles_while_busy"] >= 1 and r["wall_gap_idle"]["n"] >= 2
    # the wall's marker carries the server's side of each refresh
    assert all(c[2] is not None and c[3] is not None for c in r["wall_cycles"])
    text = loadtest.report(r)
    assert "verdict: " in text and "wall gap, users working" in text


@pytest.mark.browser
@pytest.mark.slow
def test_a_tiny_live_run_with_websocket_users_on_their_own_core(tmp_path):
    """The default: the users as websocket clients, the wall in the one browser, the server pinned to one core."""
    import os

    from support.county import sample_county
    from support.server import require_chromium

    require_chromium()
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: nothing to pin apart")
    wh = sample_county().build(tmp_path, settings=config.Settings().resolve(tmp_path),
                               load_time=dt.datetime(2024, 4, 1))
    r = loadtest.run(wh, sessions=3, rounds=1, wall_refresh=2, pin=True)
    assert r["errors"] == [], r["errors"]
    assert r["clients"] == "websocket" and r["users_browser_nice"] is None
    assert len(r["cpus"]["server"]) == 1 and not set(r["cpus"]["server"]) & set(r["cpus"]["clients"])
    assert r["page_opens"] == 3 * len(loadtest.PAGES) and r["login"]["n"] == 3
    assert r["server_cpu_s_while_busy"] > 0 and r["wall_gap_idle"]["n"] >= 2
    assert "users: websocket clients" in loadtest.report(r)


# ------------------------------------------------------------------------------------ the websocket clients
@pytest.fixture(scope="module")
def ws_server(tmp_path_factory):
    """The hardened server (`python -m dashboard serve`) on the sample county, with the test users."""
    from support.county import SAMPLE_LOAD_TIME, sample_county
    from support.logins import add_users
    from support.server import Server, write_config

    root = tmp_path_factory.mktemp("ws-load")
    cfg = write_config(root)
    s = config.load_settings(cfg)
    sample_county().build(root, settings=s, load_time=SAMPLE_LOAD_TIME)
    add_users(s)
    srv = Server(cfg)
    try:
        yield srv, s
    finally:
        srv.stop()


def test_three_websocket_users_finish_every_page_they_ask_for(ws_server):
    """Three users at once, as the load test drives them: each logs in through the form and every page it asks
    for ends in `script_finished` (a page that never finished would be an error, not a time)."""
    import asyncio

    from support.logins import PASSWORD

    srv, _ = ws_server
    out, errors = [], []

    async def three():
        await asyncio.gather(*(loadtest.ws_user(srv.url, PASSWORD, i, 1, out, errors, username="admin")
                               for i in range(3)))

    asyncio.run(three())
    assert errors == []
    for i in range(3):
        mine = [o for o in out if o["user"] == i]
        assert [o["page"] for o in mine][0] == "login+home"
        assert sorted(o["page"] for o in mine[1:]) == sorted(loadtest.PAGES)
        assert all(o["s"] > 0 for o in mine)
    # each user began on another page (the rotation), so they did not all ask for the same one at once
    firsts = {next(o["page"] for o in out if o["user"] == i and o["round"] == 1) for i in range(3)}
    assert len(firsts) == 3


def test_the_websocket_client_reads_the_figures_the_metrics_layer_gives(ws_server):
    """The 概览 headline as the websocket client receives it (the st.metric deltas) is the metrics layer's figure
    for the same period and scope, formatted by warehouse.fmt; the 事件办结 page's title and no exception."""
    import asyncio

    from support.logins import PASSWORD

    from perf import wsclient
    from warehouse import db, fmt, metrics

    srv, s = ws_server

    async def walk():
        c = wsclient.Session(srv.url)
        try:
            home = await c.login(await c.open(), "admin", PASSWORD)
            query = c.query_string
            events = await c.goto("events")
            return home, query, events
        finally:
            await c.close()

    home, query, events = asyncio.run(walk())
    assert home.exceptions == [] and events.exceptions == []
    params = dict(p.split("=", 1) for p in query.split("&"))
    assert params["k"] == "month"
    period = metrics.Period.parse(params["p"])
    con = db.open_published(s.paths.warehouse_dir)
    try:
        head = metrics.query(con, "overview/headline", metrics.Scope(personal="masked", label="全县"), settings=s,
                             **metrics.period_params(period), cutoff=None, period_asof=None).iloc[0]
    finally:
        con.close()
    tiles = home.metrics()
    assert tiles[fmt.NAMES["activity_rate"]] == fmt.pct(head["activity_rate"])
    assert tiles[fmt.NAMES["completion_rate"]] == fmt.pct(head["completion_rate"])
    assert tiles[fmt.NAMES["overdue_open"]] == fmt.count(head["overdue_open"])
    assert f"当前显示: **全县 · {period.label}**" in home.texts()
    assert "事件办结" in [h.body for h in events.kinds("heading")]


def test_a_logged_out_websocket_client_gets_the_login_form_only(ws_server):
    """Before login: the login form, no figures, no page in the navigation but the login; asking for a page by
    its path (or a wrong password) changes nothing."""
    import asyncio

    from perf import wsclient

    srv, _ = ws_server

    async def anonymous():
        c = wsclient.Session(srv.url)
        try:
            first = await c.open("events", "k=month&p=2024-03")
            pages = dict(c.page_names)
            wrong = await c.login(first, "admin", "not-the-password")
            return first, pages, wrong
        finally:
            await c.close()

    first, pages, wrong = asyncio.run(anonymous())
    for run in (first, wrong):
        assert run.exceptions == []
        assert run.widget("text_input", "login_user") is not None
        assert run.kinds("metric") == [] and run.kinds("dataframe") == []
        assert not any("事件办结" in t or "办结率" in t for t in run.texts())
    assert "用户名或密码错误。" in wrong.texts()
    # the login screen is the start page, registered under every page's path too: all of them 登录
    assert "" in pages and "events" in pages and set(pages.values()) == {"登录"}


def test_the_old_command_path_hands_over_to_perf(tmp_path):
    """`python -m warehouse.loadtest` still runs: the same options, from any directory, through `python -m perf
    loadtest` (its help, and its refusal of a missing --warehouse, exit code 2)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "warehouse.loadtest", "--help"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: python -m perf loadtest") and "--wall-refresh" in r.stdout
    assert "--clients {websocket,browser}" in r.stdout and "--users" in r.stdout and "--sessions" in r.stdout
    r = subprocess.run([sys.executable, "-m", "warehouse.loadtest", "--sessions", "2"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--warehouse" in r.stderr


def test_the_servers_tracebacks_are_kept_for_the_report(tmp_path):
    """A page's exception is redacted on the client's screen: the load test keeps the server log's tracebacks."""
    from perf import loadtest

    log = tmp_path / "server.log"
    log.write_text("started\nTraceback (most recent call last):\n  File \"x.py\", line 1, in f\n    g()\n"
                   "During handling of the above exception, another exception occurred:\n"
                   "ValueError: boom\nmore\nTraceback (most recent call last):\n  File \"y.py\"\nKeyError: 'k'\n",
                   encoding="utf-8")
    got = loadtest._tracebacks(log)
    assert len(got) == 2 and got[0].endswith("ValueError: boom") and got[1].endswith("KeyError: 'k'")
    assert loadtest._tracebacks(tmp_path / "missing.log") == []
