"""Shared by the browser tests: a test county's config, a real Streamlit server on a free port, Debian's Chromium."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# as root, headless, and without the background connections a closed network refuses
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    """Skip the calling test module without Chromium; in CI its absence is an error."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError("chromium is required for the browser tests in CI (apt-get install chromium)")
        pytest.skip("chromium not installed", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(root: Path, extra: str = "") -> Path:
    """A config.toml keeping everything under `root`, demo off, plus `extra` TOML."""
    cfg = root / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{root}"\ndrop_dir = "{root}/drop"\nlake_dir = "{root}/lake"\n'
                   f'warehouse_dir = "{root}/wh"\n[demo]\nauto = false\n{extra}', encoding="utf-8")
    return cfg


class Server:
    """`python -m dashboard serve` (= streamlit run dashboard/app.py, hardened) with GRIDWATCH_CONFIG=cfg; `url` once
    healthy; `stop()` returns its log."""

    def __init__(self, cfg: Path, capture: bool = True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        out = subprocess.PIPE if capture else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard", "serve",  # = streamlit run dashboard/app.py, hardened from the start
             "--server.port", str(self.port), "--server.address", "127.0.0.1"],
            cwd=ROOT, env=dict(os.environ, GRIDWATCH_CONFIG=str(cfg)), stdout=out, stderr=subprocess.STDOUT)
        for _ in range(240):
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1).status == 200:
                    return
            except OSError:
                time.sleep(0.5)
        self.proc.kill()
        raise RuntimeError("streamlit did not start:\n" + self.stop())

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""


@contextmanager
def chromium():
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
