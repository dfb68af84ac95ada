"""Load test: N concurrent user sessions on one Streamlit server, opening the pages in turn, while the wall
display refreshes in a real browser.

    python -m perf loadtest --warehouse WH [--clients websocket|browser] [--users 10] [--rounds 2] [--pin]
                            [--wall-refresh 5] [--user-nice 10] [--out r.json]

(`python -m warehouse.loadtest …` is an alias that hands over to it.)

One server (`streamlit run dashboard/app.py`) on a published warehouse WH (e.g. the benchmark's, `…/wh`), with a
temporary configuration (its own user store; the demo build off). The wall is one headless Chromium (Debian's, no
download), logged in with a display token, refreshing every `--wall-refresh` seconds. The N users each log in
through the form, then open the pages in turn (a rotation offset per user, so they do not all ask for the same
page at once) for `--rounds` rounds, either

- `--clients websocket` (the default): as bare websocket clients speaking Streamlit's protocol (perf/wsclient.py:
  `/_stcore/stream`, a rerun BackMsg per page with its script hash and the widget states, ForwardMsgs read until
  `script_finished`), so the CPU goes to the server, not to ten browsers sharing its cores; page time = the rerun
  request sent → `script_finished`; errors = exception elements in a run, lost connections, runs that never end;
- `--clients browser`: as N isolated contexts of a second Chromium, clicking the sidebar's links; page time = the
  click → Streamlit's status widget gone and the page's title drawn. That browser runs at `--user-nice` (10 by
  default): on a real network it is other people's machines, here it would take the server's two cores.

`--pin` puts the server on the first core and this process (the clients, the wall's browser) on the others
(`os.sched_setaffinity`); the report gives the server's CPU and the clients' own.

The first round of each user is cold for the result cache of that page and period (the first user to ask pays for
the query, the others may find it cached); both rounds are reported together and apart. The wall: the time between
consecutive refresh cycles (the `wall-cycle` marker of pages/wall.py) while the users work, against the configured
interval (websocket users are quick: give them enough `--rounds` to cover a few refreshes).
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from perf import timing

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
PAGES = ["home", "activity", "events", "key_persons", "compare", "quality"]
CLIENTS = ("websocket", "browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(wh: Path, root: Path, wall_refresh: float, cpus: set[int] | None = None, level: str = "county"
                 ) -> tuple[subprocess.Popen, str, str, str]:
    """The server with its own config and user store: (process, url, admin password, display token); on the
    cores `cpus` only when given (set before it starts, so every thread of it stays there)."""
    cfg = root / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{root}"\ndrop_dir = "{root}/drop"\nlake_dir = "{wh}/lake"\n'
                   f'warehouse_dir = "{wh}"\n[demo]\nauto = false\n'
                   f'[dashboard]\nrefresh_seconds = {wall_refresh}\nstale_hours = 100000\n'
                   f'[auth]\nstore = "{root}/auth/users.db"\nmax_failures = 1000\n'
                   f'[deployment]\nlevel = "{level}"\n', encoding="utf-8")
    env = dict(os.environ, GRIDWATCH_CONFIG=str(cfg))
    password = "Bench-" + secrets.token_hex(8)
    code = ("from dashboard.users import UserStore\nfrom core.config import load_settings\n"
            f"s = UserStore.from_settings(load_settings({str(cfg)!r}))\n"
            f"s.add_user('bench', 'admin', password={password!r}, actor='loadtest')\n"
            "print(s.add_token('loadtest wall', actor='loadtest')[1])\n")
    token = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True).stdout.strip().splitlines()[-1]
    port = _free_port()
    with open(root / "server.log", "wb") as log:  # the server keeps its own descriptor of it
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                                 "--server.port", str(port), "--server.address", "127.0.0.1",
                                 "--server.headless", "true"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("streamlit did not start")
    return proc, url, password, token


_IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


async def _settled(page, timeout=120_000) -> None:
    await page.wait_for_timeout(50)  # let the rerun begin (the status widget shows after a short delay)
    await page.wait_for_function(_IDLE, timeout=timeout)
    await page.wait_for_selector("h1", timeout=timeout)


async def user(browser, url: str, password: str, idx: int, rounds: int, out: list, errors: list) -> None:
    ctx = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await ctx.new_page()
    try:
        await page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        await page.get_by_label("用户名").fill("bench", timeout=120_000)
        await page.get_by_label("密码").fill(password)
        t = time.perf_counter()
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_selector('[data-testid="stSidebarNav"]', timeout=120_000)
        await _settled(page)
        out.append({"user": idx, "page": "login+home", "round": 0, "s": time.perf_counter() - t})
        order = PAGES[idx % len(PAGES):] + PAGES[:idx % len(PAGES)]
        for r in range(rounds):
            for name in order:
                link = page.locator(f'[data-testid="stSidebarNav"] a[href$="/{name}"]').first
                if name == "home":
                    link = page.locator('[data-testid="stSidebarNav"] a').first
                t = time.perf_counter()
                await link.click()
                await _settled(page)
                out.append({"user": idx, "page": name, "round": r + 1, "s": time.perf_counter() - t})
                exc = await page.locator('[data-testid="stException"]').count()
                if exc:
                    errors.append(f"user {idx}: exception on {name}")
    except Exception as e:  # noqa: BLE001 — reported, the other sessions go on
        errors.append(f"user {idx}: {type(e).__name__}: {str(e)[:200]}")
    finally:
        await ctx.close()


async def ws_user(url: str, password: str, idx: int, rounds: int, out: list, errors: list,
                  username: str = "bench") -> None:
    """One user as a bare websocket client (perf/wsclient.py): the login form submitted, then the same pages in
    the same rotation as a browser user. Page time: the rerun request sent → `script_finished`."""
    from perf import wsclient

    s = wsclient.Session(url)
    try:
        first = await s.open()
        t = time.perf_counter()
        run = await s.login(first, username, password)
        if not s.pages or run.widget("text_input", "login_user") is not None:
            raise wsclient.ProtocolError("still on the login screen after submitting the form")
        out.append({"user": idx, "page": "login+home", "round": 0, "s": time.perf_counter() - t})
        order = PAGES[idx % len(PAGES):] + PAGES[:idx % len(PAGES)]
        for r in range(rounds):
            for name in order:
                path = "" if name == "home" else name  # 概览 is the start page, at "/"
                run = await s.goto(path)
                out.append({"user": idx, "page": name, "round": r + 1, "s": run.seconds})
                if run.page_script_hash != s.pages.get(path):  # the server ran another page (the login, …)
                    errors.append(f"user {idx}: asked for {name}, the server ran another page")
                for x in run.exceptions:
                    errors.append(f"user {idx}: exception on {name}: {x[:200]}")
    except Exception as e:  # noqa: BLE001 — reported, the other sessions go on
        errors.append(f"user {idx}: {type(e).__name__}: {str(e)[:200]}")
    finally:
        await s.close()


# Installed in the wall's page before its scripts: a new refresh cycle (pages/wall.py's marker, drawn last in a
# refresh) is stamped in the page itself, with the browser's clock, when it enters the document, so the watcher's
# own polling delay does not count; the marker also says when the server began the cycle and how long it took.
_WALL_WATCH = """(() => {
  window.__wallCycles = []; let last = null;
  const check = () => {
    const e = document.querySelector('.wall-cycle'); if (!e) return;
    const c = e.dataset.cycle ?? e.textContent;
    if (c === last) return;
    last = c;
    window.__wallCycles.push([c, Date.now() / 1000, e.dataset.start ?? null, e.dataset.ms ?? null]);
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, characterData: true});
})();"""


async def wall(browser, url: str, token: str, stop: asyncio.Event, cycles: list) -> None:
    """Watch the wall's refresh cycles: for each, when it was in the page (epoch s, the browser's clock), when the
    server began it (epoch s) and how long the server took (ms)."""
    ctx = await browser.new_context(viewport={"width": 1920, "height": 1080})
    await ctx.add_init_script(_WALL_WATCH)
    page = await ctx.new_page()
    await page.goto(f"{url}/wall?display_token={token}", wait_until="domcontentloaded", timeout=120_000)

    async def collect() -> None:
        try:
            got = await page.evaluate("() => window.__wallCycles.splice(0)")
        except Exception:  # noqa: BLE001 — navigation in progress
            return
        for c, t, start, ms in got:
            cycles.append({"t": t, "cycle": c, "server_start": float(start) if start else None,
                           "server_ms": float(ms) if ms else None})

    while not stop.is_set():
        await collect()
        await asyncio.sleep(0.5)
    await collect()
    await ctx.close()


async def _main(url: str, password: str, token: str, sessions: int, rounds: int, refresh: float,
                server_pid: int | None = None, user_nice: int = 0, clients: str = "websocket") -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        # the wall and the users in two browsers, like two machines; the users' one at a lower CPU priority when
        # user_nice > 0 (the users' browsers stand for other machines: on this one they would take the server's
        # and the wall's cores)
        wall_browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        users_browser = None if clients == "websocket" else await p.chromium.launch(
            executable_path=_niced(CHROMIUM, user_nice), args=CHROMIUM_ARGS)
        stop = asyncio.Event()
        cycles: list = []
        wt = asyncio.create_task(wall(wall_browser, url, token, stop, cycles))
        # the wall settles before the users start: wait for four idle cycles (at most 4 intervals + 60 s)
        t_idle = time.time()
        while len(cycles) < 4 and time.time() - t_idle < 4 * refresh + 60:
            await asyncio.sleep(0.2)
        idle_cycles = list(cycles)
        out, errors = [], []
        cpu0 = timing.cpu_seconds(server_pid) if server_pid else None
        own0 = time.process_time()
        t0 = time.time()
        if clients == "websocket":
            await asyncio.gather(*(ws_user(url, password, i, rounds, out, errors) for i in range(sessions)))
        else:
            await asyncio.gather(*(user(users_browser, url, password, i, rounds, out, errors)
                                   for i in range(sessions)))
        t1 = time.time()
        cpu1 = timing.cpu_seconds(server_pid) if server_pid else None
        own_cpu = time.process_time() - own0
        await asyncio.sleep(1)
        stop.set()
        await wt
        if users_browser is not None:
            await users_browser.close()
        await wall_browser.close()
    res = analyse(out, errors, cycles, idle_cycles, t0, t1, sessions, rounds, refresh,
                  server_cpu_s=None if cpu0 is None or cpu1 is None else cpu1 - cpu0)
    res["users_browser_nice"] = user_nice if clients == "browser" else None
    res["clients"] = clients
    # this process's CPU while the users worked: the websocket clients themselves (and the wall's playwright
    # driver); the browsers' CPU (their own processes) is not in it
    res["driver_cpu_s_while_busy"] = round(own_cpu, 1)
    return res


def _niced(exe: str, nice: int) -> str:
    """`exe`, or a wrapper that starts it at the given niceness (its renderer processes inherit it)."""
    if nice <= 0:
        return exe
    w = Path(tempfile.mkdtemp(prefix="gridwatch-load-nice-")) / "chromium"
    w.write_text(f'#!/bin/sh\nexec nice -n {int(nice)} "{exe}" "$@"\n', encoding="utf-8")
    w.chmod(0o755)
    return str(w)


def _gaps(xs: list[float]) -> list[float]:
    return [b - a for a, b in zip(xs, xs[1:])]


def analyse(out: list[dict], errors: list[str], cycles: list[dict], idle_cycles: list[dict], t0: float, t1: float,
            sessions: int, rounds: int, refresh: float, server_cpu_s: float | None = None) -> dict:
    """The figures of one load test from the raw observations (t0, t1 and the cycles' times: epoch seconds)."""
    busy_s = t1 - t0
    # a gap counts for the busy period when it ends inside it; a wait still open when the users finish counts
    # too when it is already longer than the interval (a wall that stalled at the end must not look fine)
    ts = [c["t"] for c in cycles]
    gaps_busy = [b - a for a, b in zip(ts, ts[1:]) if t0 < b <= t1]
    last_before_end = max((t for t in ts if t <= t1), default=None)
    open_gap = t1 - last_before_end if last_before_end is not None else busy_s
    if open_gap > refresh:
        gaps_busy.append(open_gap)
    busy_cycles = [c for c in cycles if t0 < c["t"] <= t1]
    # when the server had each refresh ready (began + its time): the server keeps the interval when these do
    done = [c["server_start"] + c["server_ms"] / 1000 for c in cycles
            if c["server_start"] is not None and c["server_ms"] is not None and t0 < c["t"] <= t1]
    server_ms = [c["server_ms"] / 1000 for c in busy_cycles if c["server_ms"] is not None]
    pages = [o["s"] for o in out if o["page"] != "login+home"]
    wall_busy = timing.summary(gaps_busy)
    expected = int(busy_s // refresh)
    limit = refresh + 1.0
    keeps = bool(len(gaps_busy) >= 2 and wall_busy["p95_s"] <= limit and wall_busy["max_s"] <= 1.5 * refresh
                 and len(busy_cycles) >= expected - 1)
    opens_expected = sessions * rounds * len(PAGES)
    verdict = []
    if errors or len(pages) < opens_expected:
        verdict.append(f"INCOMPLETE: {len(pages)} of {opens_expected} page opens, {len(errors)} errors")
    if len(gaps_busy) < 2:
        verdict.append(f"wall NOT MEASURED: {len(gaps_busy)} refresh gaps while the users worked")
    else:
        verdict.append(("wall KEEPS its interval" if keeps else "wall MISSES its interval")
                       + f": gap p95 {wall_busy['p95_s']:.1f} s, max {wall_busy['max_s']:.1f} s against "
                         f"{refresh:g} s (target p95 ≤ {limit:g} s, no gap over {1.5 * refresh:g} s), "
                         f"{len(busy_cycles)} refreshes in {busy_s:.0f} s ({expected} expected)")
    return {
        "sessions": sessions, "rounds": rounds, "busy_s": round(busy_s, 1),
        "page_opens": len(pages), "page_opens_expected": opens_expected,
        "page_time": timing.summary(pages),
        "page_time_first_round": timing.summary([o["s"] for o in out if o["round"] == 1]),
        "page_time_later_rounds": timing.summary([o["s"] for o in out if o["round"] > 1]),
        "by_page": {n: timing.summary([o["s"] for o in out if o["page"] == n]) for n in PAGES},
        "login": timing.summary([o["s"] for o in out if o["page"] == "login+home"]),
        "wall_refresh_s": refresh,
        "wall_cycles_while_busy": len(busy_cycles), "wall_cycles_expected": expected,
        "wall_gap_while_busy": wall_busy, "wall_gaps_while_busy_s": [round(g, 2) for g in gaps_busy],
        "wall_open_gap_at_end_s": round(open_gap, 2),
        "wall_gap_idle": timing.summary(_gaps([c["t"] for c in idle_cycles])),
        # the same gaps as the server saw them (when each refresh was ready) and the server's time per refresh:
        # browser gap ≫ server gap means the browser, not the server, was late
        "wall_server_gap_while_busy": timing.summary(_gaps(done)),
        "wall_server_time_while_busy": timing.summary(server_ms),
        "wall_server_time_idle": timing.summary([c["server_ms"] / 1000 for c in idle_cycles if c["server_ms"] is not None]),
        "server_cpu_s_while_busy": None if server_cpu_s is None else round(server_cpu_s, 1),
        # every refresh seen: cycle number, seconds from the users' start to when the page had it, to when the
        # server began it, the server's time (s)
        "wall_cycles": [[c["cycle"], round(c["t"] - t0, 2),
                         None if c["server_start"] is None else round(c["server_start"] - t0, 2),
                         None if c["server_ms"] is None else round(c["server_ms"] / 1000, 3)] for c in cycles],
        "wall_keeps_interval": keeps,
        "verdict": verdict,
        "errors": errors,
    }


def split_cores(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(the server's cores, the clients' cores): the first core of this process's for the server, the others
    for the users and the wall; (None, None) without pinning or with one core."""
    have = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not pin or len(have) < 2:
        return None, None
    return {have[0]}, set(have[1:])


def run(wh: Path, *, sessions: int = 10, rounds: int = 2, wall_refresh: float = 5,
        user_nice: int = 10, clients: str = "websocket", pin: bool = False, level: str = "county") -> dict:
    import duckdb
    import streamlit

    if clients not in CLIENTS:
        raise ValueError(f"clients must be one of {CLIENTS}")
    load_start = timing.loadavg()
    root = Path(tempfile.mkdtemp(prefix="gridwatch-load-"))
    server_cpus, client_cpus = split_cores(pin)
    before = os.sched_getaffinity(0) if client_cpus else None
    proc, url, password, token = start_server(Path(wh).resolve(), root, wall_refresh, server_cpus, level)
    try:
        if client_cpus:  # this process, and what it starts from now on (the browsers, playwright's driver)
            os.sched_setaffinity(0, client_cpus)
        res = asyncio.run(_main(url, password, token, sessions, rounds, wall_refresh, proc.pid, user_nice,
                                clients))
    finally:
        if before:
            os.sched_setaffinity(0, before)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        # an exception a page raised is redacted on the client's screen: its traceback from the server's log
        res["server_errors"] = _tracebacks(root / "server.log")
        shutil.rmtree(root, ignore_errors=True)
    res["cpus"] = {"server": sorted(server_cpus) if server_cpus else "all",
                   "clients": sorted(client_cpus) if client_cpus else "all"}
    res["machine"] = {"cores": timing.cores(), "streamlit": streamlit.__version__, "duckdb": duckdb.__version__,
                      "loadavg_start": load_start, "loadavg_end": timing.loadavg()}
    return res


def _tracebacks(log: Path, most: int = 5) -> list[str]:
    """The first `most` tracebacks of the server's log (each up to its exception line)."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    out, cur = [], None
    for line in lines:
        if line.startswith("Traceback (most recent call last)"):
            cur = [line]
        elif cur is not None:
            cur.append(line)
            if line and not line.startswith((" ", "\t")) and not line.startswith("During handling"):
                out.append("\n".join(cur[-12:]))
                cur = None
                if len(out) >= most:
                    break
    return out


def report(r: dict) -> str:
    """A short plain-text report of one run."""
    def row(name: str, x: dict) -> str:
        f = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
        return f"  {name:<26}{x['n']:>5}{f(x['p50_s']):>9}{f(x['p95_s']):>9}{f(x['max_s']):>9}"
    m = r["machine"]
    lines = [f"load test: {r['sessions']} sessions × {r['rounds']} rounds × {len(PAGES)} pages, wall refresh "
             f"{r['wall_refresh_s']:g} s, {r['busy_s']:.0f} s busy; users: "
             + ("websocket clients" if r.get("clients") == "websocket" else
                f"browser at nice {r.get('users_browser_nice', 0)}")
             + f"; cores: server {(r.get('cpus') or {}).get('server', 'all')}, clients "
               f"{(r.get('cpus') or {}).get('clients', 'all')}; {m['cores']} cores, load average "
             f"{m['loadavg_start'][0]:.1f} at the start, {m['loadavg_end'][0]:.1f} at the end",
             f"  {'seconds':<26}{'n':>5}{'p50':>9}{'p95':>9}{'max':>9}",
             row("page time, all opens", r["page_time"]), row("  first round", r["page_time_first_round"]),
             row("  later rounds", r["page_time_later_rounds"])]
    lines += [row(f"  {n}", x) for n, x in r["by_page"].items()]
    lines += [row("login + 概览", r["login"]),
              row("wall gap, idle", r["wall_gap_idle"]),
              row("wall gap, users working", r["wall_gap_while_busy"]),
              row("  as the server had them", r["wall_server_gap_while_busy"]),
              row("  server time per refresh", r["wall_server_time_while_busy"])]
    if r.get("server_cpu_s_while_busy") is not None:
        lines.append(f"  server CPU while busy: {r['server_cpu_s_while_busy']:.1f} s in {r['busy_s']:.0f} s"
                     + (f"; the clients' process {r['driver_cpu_s_while_busy']:.1f} s"
                        if r.get("driver_cpu_s_while_busy") is not None else ""))
    lines += [f"verdict: {v}" for v in r["verdict"]] + [f"error: {e}" for e in r["errors"]]
    lines += [f"server traceback:\n{t}" for t in r.get("server_errors") or []]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ CLI
def add_parser(sub) -> None:
    p = sub.add_parser("loadtest", help="负载测试: 多个用户会话 (websocket 客户端或浏览器) 轮流打开各页面, 同时大屏按间隔刷新",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--warehouse", type=Path, required=True, help="a warehouse directory with CURRENT")
    p.add_argument("--clients", choices=CLIENTS, default="websocket",
                   help="the users as bare websocket clients (default) or as browser sessions; the wall is always "
                        "a real browser")
    p.add_argument("--users", "--sessions", dest="sessions", type=int, default=10, help="simulated users")
    p.add_argument("--pin", action="store_true",
                   help="the server on one core, the users and the wall on the others (sched_setaffinity)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--wall-refresh", type=float, default=5, help="the wall's refresh_seconds for the test")
    p.add_argument("--user-nice", type=int, default=10,
                   help="niceness of the users' browser (0: the same CPU priority as the server and the wall)")
    p.add_argument("--level", choices=("county", "city"), default="county",
                   help="the deployment level of the warehouse (city: a prefecture's, the users 市级)")
    p.add_argument("--out", type=Path, help="write every figure as JSON here")
    p.set_defaults(run=_cli)


def _cli(a) -> int:
    r = run(a.warehouse, sessions=a.sessions, rounds=a.rounds, wall_refresh=a.wall_refresh,
            user_nice=a.user_nice, clients=a.clients, pin=a.pin, level=a.level)
    if a.out:
        a.out.write_text(json.dumps(r, ensure_ascii=False, indent=1), encoding="utf-8")
    print(report(r))
    return 0 if not r["errors"] else 1
