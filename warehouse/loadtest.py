"""Load test: N concurrent browser sessions on one Streamlit server, opening the pages in turn, while the wall
display refreshes.

    python -m warehouse.loadtest --warehouse WH [--sessions 10] [--rounds 2] [--wall-refresh 5] [--out r.json]

One server (`streamlit run dashboard/app.py`) on a published warehouse WH (e.g. the benchmark's, `…/wh`), with a
temporary configuration (its own user store; the demo build off). One headless Chromium (Debian's, no download)
with N + 1 isolated contexts: the wall (logged in with a display token, refreshing every `--wall-refresh` seconds)
and N users, each logging in through the form, then opening the pages through the sidebar in turn (a rotation
offset per user, so they do not all ask for the same page at once) for `--rounds` rounds.

Page time: from the click on the link to the end of the script run (Streamlit's status widget gone and the
page's title drawn). The first round of each user is cold for the result cache of that page and period (the
first user to ask pays for the query, the others may find it cached); both rounds are reported together and
apart. The wall: the time between consecutive refresh cycles (the `wall-cycle` marker of pages/wall.py) while the
users work, against the configured interval.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
PAGES = ["home", "activity", "events", "key_persons", "compare", "quality"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, max(0, -(-int(q * len(xs) * 1000) // 1000) - 1))], 3)


def _summary(xs: list[float]) -> dict:
    return {"n": len(xs), "p50_s": round(statistics.median(xs), 3) if xs else None, "p95_s": _pct(xs, 0.95),
            "max_s": round(max(xs), 3) if xs else None}


def start_server(wh: Path, root: Path, wall_refresh: int) -> tuple[subprocess.Popen, str, str, str]:
    """The server with its own config and user store: (process, url, admin password, display token)."""
    cfg = root / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{root}"\ndrop_dir = "{root}/drop"\nlake_dir = "{wh}/lake"\n'
                   f'warehouse_dir = "{wh}"\n[demo]\nauto = false\n'
                   f'[dashboard]\nrefresh_seconds = {wall_refresh}\nstale_hours = 100000\n'
                   f'[auth]\nstore = "{root}/auth/users.db"\nmax_failures = 1000\n', encoding="utf-8")
    env = dict(os.environ, GRIDWATCH_CONFIG=str(cfg))
    password = "Bench-" + secrets.token_hex(8)
    code = ("from dashboard.users import UserStore\nfrom warehouse.config import load_settings\n"
            f"s = UserStore.from_settings(load_settings({str(cfg)!r}))\n"
            f"s.add_user('bench', 'admin', password={password!r}, actor='loadtest')\n"
            "print(s.add_token('loadtest wall', actor='loadtest')[1])\n")
    token = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True).stdout.strip().splitlines()[-1]
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


async def wall(browser, url: str, token: str, stop: asyncio.Event, cycles: list) -> None:
    ctx = await browser.new_context(viewport={"width": 1920, "height": 1080})
    page = await ctx.new_page()
    await page.goto(f"{url}/wall?display_token={token}", wait_until="domcontentloaded", timeout=120_000)
    last = None
    while not stop.is_set():
        try:
            # the cycle marker of pages/wall.py: its text (or, in older versions, data-cycle)
            c = await page.evaluate("() => { const e = document.querySelector('.wall-cycle');"
                                    " return e ? (e.dataset.cycle ?? e.textContent) : null; }")
        except Exception:  # noqa: BLE001 — navigation in progress
            c = None
        if c is not None and c != last:
            cycles.append((time.perf_counter(), c))
            last = c
        await asyncio.sleep(0.1)
    await ctx.close()


async def _main(url: str, password: str, token: str, sessions: int, rounds: int, refresh: int) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stop = asyncio.Event()
        cycles: list = []
        wt = asyncio.create_task(wall(browser, url, token, stop, cycles))
        # the wall settles before the users start: wait for three idle cycles (at most 3 intervals + 60 s)
        t_idle = time.perf_counter()
        while len(cycles) < 3 and time.perf_counter() - t_idle < 3 * refresh + 60:
            await asyncio.sleep(0.2)
        idle_cycles = len(cycles)
        out, errors = [], []
        t0 = time.perf_counter()
        await asyncio.gather(*(user(browser, url, password, i, rounds, out, errors) for i in range(sessions)))
        busy_s = time.perf_counter() - t0
        await asyncio.sleep(1)
        stop.set()
        await wt
        await browser.close()
    busy = [c for c in cycles if t0 <= c[0] <= t0 + busy_s]
    gaps_busy = [b[0] - a[0] for a, b in zip(busy, busy[1:])]
    gaps_idle = [b[0] - a[0] for a, b in zip(cycles[:idle_cycles], cycles[1:idle_cycles])]
    pages = [o["s"] for o in out if o["page"] != "login+home"]
    return {"sessions": sessions, "rounds": rounds, "busy_s": round(busy_s, 1),
            "page_time": _summary(pages),
            "page_time_first_round": _summary([o["s"] for o in out if o["round"] == 1]),
            "page_time_later_rounds": _summary([o["s"] for o in out if o["round"] > 1]),
            "by_page": {n: _summary([o["s"] for o in out if o["page"] == n]) for n in PAGES},
            "login": _summary([o["s"] for o in out if o["page"] == "login+home"]),
            "wall_cycles_while_busy": len(busy), "wall_cycles_expected": int(busy_s // refresh),
            "wall_interval_while_busy": _summary(gaps_busy), "wall_interval_idle": _summary(gaps_idle),
            "errors": errors}


def run(wh: Path, *, sessions: int = 10, rounds: int = 2, wall_refresh: int = 5) -> dict:
    import duckdb
    import streamlit

    root = Path(tempfile.mkdtemp(prefix="gridwatch-load-"))
    proc, url, password, token = start_server(Path(wh).resolve(), root, wall_refresh)
    try:
        res = asyncio.run(_main(url, password, token, sessions, rounds, wall_refresh))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)
    res["wall_refresh_s"] = wall_refresh
    iv = res["wall_interval_while_busy"]
    # kept: at least 80 % of the cycles the interval allows while the users work, no gap over 1.5 intervals
    res["wall_keeps_interval"] = (bool(iv["n"]) and res["wall_cycles_while_busy"] >= 0.8 * res["wall_cycles_expected"]
                                  and iv["max_s"] <= wall_refresh * 1.5)
    res["machine"] = {"cores": os.cpu_count(), "streamlit": streamlit.__version__, "duckdb": duckdb.__version__,
                      "loadavg_end": os.getloadavg()}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m warehouse.loadtest", description=__doc__.split("\n\n")[0])
    ap.add_argument("--warehouse", type=Path, required=True, help="a warehouse directory with CURRENT")
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--wall-refresh", type=int, default=5, help="the wall's refresh_seconds for the test")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    r = run(a.warehouse, sessions=a.sessions, rounds=a.rounds, wall_refresh=a.wall_refresh)
    text = json.dumps(r, ensure_ascii=False, indent=1)
    if a.out:
        a.out.write_text(text, encoding="utf-8")
    print(text)
    return 0 if not r["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
