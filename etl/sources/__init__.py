"""Feeding channels other than the file drop: the 前置库 (PostgreSQL) and the HTTP API; credentials; source health.

    kind_of(source)               'files' | 'postgres' | 'api'
    open_source(source, …)        a PostgresSource or ApiSource: .datasets(), .pull(dataset, lake) → batches
    redact(url)                   the URL without password, token or other secrets (for logs and the run log)
    health(settings)              per configured source: ok | failed | quiet | never, for the wall and 数据质量 page

`etl.pipeline.run` is the one place that locks the lake, lands batches, advances watermarks, builds and publishes;
this package only reads sources.

Credentials never come from the command line or the repository:
- 前置库 password: the URL may carry none; then GRIDWATCH_PG_PASSWORD, the secrets file (`[sources."<name>"]
  password`, then `pg_password`), and finally libpq's own PGPASSWORD / ~/.pgpass (PGPASSFILE).
- API token: GRIDWATCH_API_TOKEN, else the secrets file (`[sources."<name>"] token`, then `api_token`).
The secrets file is `feeds.secrets_file` or $GRIDWATCH_SECRETS (TOML, see secrets.example.toml). Secrets are
scrubbed from every error message before it is logged or stored.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from etl.lake import Lake, write_json
from etl.sources.common import (Batch, BatchError, Cursor, DatasetError, DatasetMissing,  # noqa: F401
                                SourceError)
from warehouse.config import Settings, Source

PG_SCHEMES = ("postgresql", "postgres")
API_SCHEMES = ("http", "https")
SECRET_QUERY_KEYS = re.compile(r"pass|token|secret|key|auth|sig", re.I)
HEALTH_FILE = "sources.json"
STATUS_LABELS = {"ok": "正常", "failed": "失败", "quiet": "无新数据", "never": "未运行"}
KIND_LABELS = {"files": "文件投递", "postgres": "前置库", "api": "接口"}


def kind_of(source: str | os.PathLike) -> str:
    s = str(source)
    scheme = s.split("://", 1)[0].lower() if "://" in s else ""
    if scheme in PG_SCHEMES:
        return "postgres"
    if scheme in API_SCHEMES:
        return "api"
    if scheme:
        raise ValueError(f"不支持的数据源: {redact(s)} (应为目录、postgresql://… 或 http(s)://…)")
    return "files"


def redact(url: str | os.PathLike) -> str:
    """The source as it may be shown and stored: no password, no token, no user:password@ for http."""
    s = str(url)
    if "://" not in s:
        return s
    p = urlsplit(s)
    host = p.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{p.port}" if p.port else "")
    if p.username and p.scheme.lower() in PG_SCHEMES:
        netloc = f"{p.username}@{netloc}"
    query = urlencode([(k, v) for k, v in parse_qsl(p.query, keep_blank_values=True)
                       if not SECRET_QUERY_KEYS.search(k)])
    return urlunsplit((p.scheme, netloc, p.path, query, ""))


def scrub(text: str, secrets: list[str | None]) -> str:
    for s in secrets:
        if s and len(s) >= 3:
            text = text.replace(s, "***")
    return text


def source_id(source: str) -> str:
    """A stable folder name for a source's watermarks: host, port, database/path — never the user or password."""
    p = urlsplit(str(source))
    parts = [p.scheme.lower().replace("postgresql", "pg").replace("postgres", "pg"), p.hostname or "local",
             str(p.port or ""), p.path.strip("/")]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(x for x in parts if x)).strip("-")[:80]
    return f"{slug}-{hashlib.sha1(redact(source).encode()).hexdigest()[:8]}"


# ------------------------------------------------------------------------------------------------ configuration
def configured(settings: Settings, name: str) -> Source | None:
    return next((s for s in settings.sources if s.name == name), None)


def configured_for(settings: Settings, source: str) -> Source | None:
    """The configured source with this URL (password or not) or folder."""
    want = redact(source)
    for s in settings.sources:
        try:
            if redact(s.url) == want or (kind_of(s.url) == "files" and resolve_folder(s.url, settings) == Path(source)):
                return s
        except ValueError:  # a source with an unsupported scheme: it fails when it is run
            continue
    return None


def resolve_folder(url: str, settings: Settings) -> Path:
    p = Path(url)
    return p if p.is_absolute() or settings.config_dir is None else settings.config_dir / p


# ------------------------------------------------------------------------------------------------ secrets
def load_secrets(settings: Settings) -> dict:
    path = os.environ.get("GRIDWATCH_SECRETS") or settings.feeds.secrets_file
    if not path:
        return {}
    path = Path(path)
    if not path.exists():
        raise SourceError(f"密钥文件不存在: {path}")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        import warnings

        warnings.warn(f"密钥文件 {path} 可被其他用户读取, 请执行 chmod 600", stacklevel=2)
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def pg_password(settings: Settings, name: str | None, url: str) -> str | None:
    if urlsplit(url).password:
        return None  # in the URL (discouraged: it ends up in shell history); libpq takes it from there
    if os.environ.get("GRIDWATCH_PG_PASSWORD"):
        return os.environ["GRIDWATCH_PG_PASSWORD"]
    sec = load_secrets(settings)
    per = (sec.get("sources") or {}).get(name or "", {})
    return per.get("password") or sec.get("pg_password")  # None: libpq's PGPASSWORD / ~/.pgpass


def api_token(settings: Settings, name: str | None) -> str | None:
    if os.environ.get("GRIDWATCH_API_TOKEN"):
        return os.environ["GRIDWATCH_API_TOKEN"]
    sec = load_secrets(settings)
    per = (sec.get("sources") or {}).get(name or "", {})
    return per.get("token") or sec.get("api_token")


# ------------------------------------------------------------------------------------------------ opening
def open_source(source: str, settings: Settings, *, name: str | None = None, log: Callable[[str], None] = print):
    kind = kind_of(source)
    if kind == "postgres":
        from etl.sources.postgres import PostgresSource

        return PostgresSource(source, settings, name=name, log=log)
    if kind == "api":
        from etl.sources.api import ApiSource

        return ApiSource(source, settings, name=name, log=log)
    raise ValueError(f"{source} 是投递目录, 不是数据库或接口")


def cursor_for(lake: Lake, source: str, dataset: str, settings: Settings, load_time: dt.datetime) -> Cursor:
    cap = load_time + dt.timedelta(hours=settings.etl.future_tolerance_hours)
    return Cursor(lake.state_dir / "watermarks" / source_id(source) / f"{dataset}.json", dataset,
                  settings.feeds.lookback_seconds, source=redact(source), cap=cap.strftime("%Y-%m-%d %H:%M:%S"))


def watermarks(lake: Lake, source: str) -> dict[str, str | None]:
    folder = lake.state_dir / "watermarks" / source_id(source)
    out = {}
    if folder.exists():
        for p in sorted(folder.glob("*.json")):
            try:
                out[p.stem] = json.loads(p.read_text(encoding="utf-8")).get("watermark")
            except (OSError, ValueError, AttributeError):  # damaged: the next pull puts it aside
                out[p.stem] = None
    return out


# ------------------------------------------------------------------------------------------------ health
def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _ts(v: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(v) if v else None


def read_health(lake: Lake) -> dict[str, dict]:
    p = lake.state_dir / HEALTH_FILE
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def record_health(lake: Lake, *, name: str, kind: str, source: str, ok: bool, error: str | None = None,
                  new_rows: int = 0, run_id: str | None = None, when: dt.datetime | None = None) -> dict:
    """Note one run of a source in lake/state/sources.json (called by the pipeline, under the lake's lock)."""
    when = (when or _now()).isoformat(sep=" ")
    allh = read_health(lake)
    e = allh.get(name) or {"name": name}
    e.update(kind=kind, source=redact(source), last_attempt=when, last_run_id=run_id,
             last_result="ok" if ok else "failed")
    if ok:
        e["last_success"] = when
        e.setdefault("first_success", when)
        e["error"] = None
        e["last_rows_new"] = new_rows
        if new_rows:
            e["last_new_data"] = when
    else:
        e["last_failure"] = when
        e["error"] = (error or "未知错误")[:1000]
    allh[name] = e
    write_json(lake.state_dir / HEALTH_FILE, allh)
    return e


def status_of(e: dict | None, quiet_hours: float, now: dt.datetime) -> str:
    if not e or not e.get("last_attempt"):
        return "never"
    if e.get("last_result") == "failed":
        return "failed"
    ref = _ts(e.get("last_new_data")) or _ts(e.get("first_success"))
    if ref is None or now - ref > dt.timedelta(hours=quiet_hours):
        return "quiet"
    return "ok"


def health(settings: Settings, lake_dir: Path | None = None, now: dt.datetime | None = None,
           include_unconfigured: bool = False) -> list[dict]:
    """Per configured source (and, when asked, every source ever run): name, kind, source (no secrets), status
    ok | failed | quiet | never, status_label, last_attempt, last_success, last_failure, last_new_data, error,
    quiet_hours, message (one Chinese line for the wall display)."""
    now = now or _now()
    lake = Lake(lake_dir or settings.paths.lake_dir)
    known = read_health(lake)
    rows = []
    names = [s.name for s in settings.sources if s.enabled]
    if include_unconfigured:
        names += sorted(n for n in known if n not in names)
    for n in names:
        cfg = configured(settings, n)
        e = known.get(n) or {}
        quiet = (cfg.quiet_hours if cfg and cfg.quiet_hours else None) or settings.feeds.quiet_hours
        kind = e.get("kind") or (kind_of(cfg.url) if cfg else "files")
        st = status_of(e, quiet, now)
        rows.append({
            "name": n, "kind": kind, "kind_label": KIND_LABELS.get(kind, kind),
            "source": e.get("source") or (redact(cfg.url) if cfg else ""), "status": st,
            "status_label": STATUS_LABELS[st], "last_attempt": _ts(e.get("last_attempt")),
            "last_success": _ts(e.get("last_success")), "last_failure": _ts(e.get("last_failure")),
            "last_new_data": _ts(e.get("last_new_data")), "first_success": _ts(e.get("first_success")),
            "error": e.get("error") if st == "failed" else None, "quiet_hours": float(quiet),
            "message": _message(n, st, e, quiet),
        })
    return rows


def _message(name: str, st: str, e: dict, quiet: float) -> str:
    if st == "failed":
        return f"数据源「{name}」导入失败 ({e.get('last_failure')}): {e.get('error') or ''}".strip()
    if st == "quiet":
        since = e.get("last_new_data") or e.get("first_success")
        return f"数据源「{name}」已超过 {quiet:g} 小时没有新数据" + (f" (最近一次新数据 {since})" if since else "")
    if st == "never":
        return f"数据源「{name}」尚未运行"
    return f"数据源「{name}」正常 (最近成功 {e.get('last_success')})"


def secret_values(settings: Settings, name: str | None, source: str) -> list[str]:
    """Every secret that could appear in a message about this source (to scrub it); never raises."""
    out = [urlsplit(str(source)).password if "://" in str(source) else None,
           os.environ.get("GRIDWATCH_PG_PASSWORD"), os.environ.get("PGPASSWORD"),
           os.environ.get("GRIDWATCH_API_TOKEN")]
    try:
        sec = load_secrets(settings)
    except Exception:  # noqa: BLE001
        sec = {}
    out += [sec.get("pg_password"), sec.get("api_token")]
    for per in (sec.get("sources") or {}).values():
        if isinstance(per, dict):
            out += [per.get("password"), per.get("token")]
    return [s for s in out if isinstance(s, str) and s]
