"""A throwaway PostgreSQL server for the 前置库 tests.

`server()` initdb's a cluster in a fresh temporary directory, starts it on a free port on 127.0.0.1 (TCP only,
password authentication) and returns a `PgServer`; `create_database(srv, name)` gives each test its own database
and a URL without the password (the tests pass it through GRIDWATCH_PG_PASSWORD, the way production does).
The server is started once per test process, shared by every test module, and stopped and removed when the last
user releases it (or at exit).

PostgreSQL refuses to run as root: as root, every server command runs as the `postgres` user (`runuser`), in a
directory that user owns. Binaries: Debian's /usr/lib/postgresql/<version>/bin (`.ci/run` installs `postgresql`).
When they are missing the tests are skipped with that reason; when they exist but the server does not start, the
tests fail with the server's log.
"""
from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "postgres"
SUPER_PASSWORD = "pg-super-secret-Ω1"
USER = "gridwatch"
PASSWORD = "gw-exchange-pass-Σ7"


def bindir() -> Path | None:
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if cands:
        return Path(cands[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    root: Path
    port: int
    bindir: Path
    as_user: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, db: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def connect(self, db: str = "postgres", user: str = SUPERUSER, password: str = SUPER_PASSWORD, **kw):
        import psycopg

        return psycopg.connect(self.url(db, user), password=password, connect_timeout=10, **kw)

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
                              capture_output=True, text=True, check=check, timeout=120)

    def stop(self) -> None:
        if self.data.exists():
            self.ctl("-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> PgServer:
    bd = bindir()
    if bd is None:
        pytest.skip("PostgreSQL is not installed (Debian package `postgresql`; .ci/run installs it)")
    root = Path(tempfile.mkdtemp(prefix="gridwatch-pg-", dir="/tmp"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, SUPERUSER, SUPERUSER)
        as_user = ["runuser", "-u", SUPERUSER, "--"]
    srv = PgServer(root, _free_port(), bd, as_user)
    pwfile = root / "pw"
    pwfile.write_text(SUPER_PASSWORD + "\n", encoding="utf-8")
    if as_user:
        shutil.chown(pwfile, SUPERUSER, SUPERUSER)
    try:
        subprocess.run([*as_user, str(bd / "initdb"), "-D", str(srv.data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                        "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8",
                        "--locale=C.UTF-8", "--no-sync"],
                       capture_output=True, text=True, check=True, timeout=120)
        pwfile.unlink()
        opts = (f"-p {srv.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                f"-c full_page_writes=off -c max_connections=40 -c shared_buffers=64MB")
        srv.ctl("-o", opts, "-l", str(root / "server.log"), "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        srv.stop()
        pytest.fail(f"PostgreSQL did not start: {exc.cmd}\n{exc.stdout}\n{exc.stderr}\n{log}")
    with srv.connect(autocommit=True) as con:
        con.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
    return srv


_lock = threading.Lock()
_server: PgServer | None = None
_users = 0


def acquire() -> PgServer:
    global _server, _users
    with _lock:
        if _server is None:
            _server = start()
            atexit.register(_stop)
        _users += 1
        return _server


def release() -> None:
    global _users
    with _lock:
        _users -= 1
        if _users <= 0:
            _stop()


def _stop() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


def create_database(srv: PgServer, name: str) -> str:
    """A fresh database owned by the exchange user; returns its URL (no password in it)."""
    with srv.connect(autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}" OWNER {USER}')
    return srv.url(name, USER)


@pytest.fixture(scope="session")
def pg_server():
    srv = acquire()
    try:
        yield srv
    finally:
        release()
