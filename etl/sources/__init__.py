"""Feeding channels other than the file drop: the 前置库 (PostgreSQL) and the HTTP API; credentials; source health.

    kind_of(source)               'files' | 'postgres' | 'api'
    open_source(source, …)        a PostgresSource or ApiSource: .datasets(), .pull(dataset, lake) → batches
    redact(url)                   the URL without password, token or other secrets (for logs and the run log)
    health(settings)              per configured source: ok | partial | failed | quiet | never (wall, 数据质量 page)
    open_failures(lake)           import failures (files, pages, batches) not yet resolved, over every source
    recent_quarantine(lake)       rows quarantined by each source's latest delivery

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
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.config import Settings, Source
from etl.lake import Lake, write_json
from etl.sources.common import Batch, BatchError, Cursor, DatasetError, DatasetMissing, SourceError  # noqa: F401

PG_SCHEMES = ("postgresql", "postgres")
API_SCHEMES = ("http", "https")
SECRET_QUERY_KEYS = re.compile(r"pass|token|secret|key|auth|sig", re.I)
HEALTH_FILE = "sources.json"
STATUS_LABELS = {"ok": "正常", "partial": "部分失败", "failed": "失败", "quiet": "无新数据", "never": "未运行"}
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
# lake/state/sources.json holds, per source (by its configured name, or the source itself for a one-off run),
# its last attempt, success and failure, and the import failures still open as of the run before its last one
# ("open", folded in by record_health under the lake's lock). open_failures() adds the last run (its run log,
# lake/runs/<run_id>.json) to that, so that the app reads one state file and one run log per source, never the
# whole run history, and never writes anything.
FAIL_UNITS = {"files": "文件", "postgres": "前置库批次", "api": "接口批次"}
MAX_LISTED = 500  # failures kept per source in sources.json (the run log keeps them all)


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _ts(v: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(v) if v else None


def _read_json(p: Path) -> dict | None:
    """A state or run-log file, or None when it is missing or unreadable (a damaged file never stops the
    monitoring: what it held counts as unknown)."""
    try:
        v = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return v if isinstance(v, dict) else None


def read_health(lake: Lake) -> dict[str, dict]:
    """lake/state/sources.json ({} when missing or damaged: the next run writes it again)."""
    return _read_json(lake.state_dir / HEALTH_FILE) or {}


def _listed(failed: list[dict] | None) -> list[dict] | None:
    if failed is None:
        return None
    return [{"file": str(f.get("file")), "reason": str(f.get("reason") or "")[:500], "rows": f.get("rows")}
            for f in failed[:MAX_LISTED]]


def _dataset_of(name: str) -> str | None:
    """The dataset a 前置库/API failure is about (`api:events`, `pg:events@…`, `api:events 第3页`); None for
    one about the whole source (its URL)."""
    m = re.match(r"[A-Za-z0-9]+:([a-z_]+)", name)
    return m.group(1) if m else None


def _fold(open_: dict[str, dict], run: dict, kind: str) -> dict[str, dict]:
    """The failures still open after `run` (a run log, or what record_health knows of the run).

    A run that looked at everything its source holds replaces the list: what it no longer lists was landed or
    removed. A run that did not look — a drop run that failed before reading the folder, a 前置库/API source that
    could not be reached, a dataset that was not pulled this time — keeps what it did not look at."""
    if run.get("status") == "busy":
        return open_
    listed = run.get("files_failed") or []
    if kind == "files":
        looked = (run.get("status") != "failed" or bool(listed) or bool(run.get("files_new"))
                  or bool(run.get("files_already_loaded")))
        out = {} if looked else dict(open_)
    else:
        pulled = set(run.get("watermarks") or {})
        out = {k: v for k, v in open_.items() if not pulled or (_dataset_of(k) and _dataset_of(k) not in pulled)}
    seen = run.get("started_at") or run.get("finished_at")
    for f in listed:
        name = str(f.get("file"))
        old = open_.get(name) or {}
        out[name] = {"file": name, "reason": str(f.get("reason") or "")[:500], "rows": f.get("rows"),
                     "first_seen": old.get("first_seen") or seen, "last_seen": seen, "run_id": run.get("run_id")}
    return out


def _landing(prev: dict | None, run: dict) -> dict | None:
    """The source's latest run that landed something (its quarantined rows are the 'latest' ones)."""
    if run.get("status") == "busy" or not run.get("files_new"):
        return prev
    return {"run_id": run.get("run_id"), "when": run.get("started_at"), "files_new": run.get("files_new"),
            "rows_landed": run.get("rows_landed", 0), "rows_quarantined": run.get("rows_quarantined", 0)}


def _last_run(lake: Lake, e: dict) -> dict | None:
    """The source's last run: its run log when written (at the end of the run), else what record_health was told."""
    rid = e.get("last_run_id")
    if not rid:
        return None
    log = _read_json(lake.runs_dir / f"{rid}.json")
    if log is not None:
        return log
    if e.get("last_failed") is None:
        return None  # still running, or killed before its run log: nothing known yet
    return {"run_id": rid, "status": e.get("last_result"), "started_at": e.get("last_run_started"),
            "source": e.get("source"), "files_failed": e["last_failed"]}


def _current(lake: Lake, e: dict) -> tuple[dict[str, dict], dict | None]:
    """(open failures, latest landing run) of one source, its last run included."""
    open_, landing = dict(e.get("open") or {}), e.get("last_landing")
    run = _last_run(lake, e) if e.get("open_through") != e.get("last_run_id") else None
    if run is not None:
        open_, landing = _fold(open_, run, e.get("kind") or "files"), _landing(landing, run)
    return open_, landing


def record_health(lake: Lake, *, name: str, kind: str, source: str, ok: bool = True, error: str | None = None,
                  new_rows: int = 0, run_id: str | None = None, when: dt.datetime | None = None,
                  status: str | None = None, failed: list[dict] | None = None) -> dict:
    """Note one run of a source in lake/state/sources.json (called by the pipeline, under the lake's lock).

    status: ok | partial | failed (default: from `ok`; `ok` with failures is partial); failed: the run's
    files_failed ({file, reason, rows}), so that the warning shows before the run log is written (during the
    build). Called again for the same run (a build that failed), it keeps what it was told first."""
    when = (when or _now()).isoformat(sep=" ")
    allh = read_health(lake)
    e = allh.get(name) or {"name": name}
    prev = e.get("last_run_id")
    if prev and prev != run_id and e.get("open_through") != prev:  # fold in the run before this one
        e["open"], e["last_landing"] = _current(lake, e)
        e["open_through"] = prev
    st = status or ("ok" if ok else "failed")
    if st == "ok" and failed:
        st = "partial"
    if prev != run_id or run_id is None:
        e["last_failed"], e["last_run_started"] = _listed(failed), when
    elif failed is not None:
        e["last_failed"] = _listed(failed)
    e.update(kind=kind, source=redact(source), last_attempt=when, last_run_id=run_id, last_result=st)
    if st != "failed":
        e["last_success"] = when
        e.setdefault("first_success", when)
        e["error"] = None
        e["last_rows_new"] = new_rows
        if new_rows:
            e["last_new_data"] = when
    else:
        e["last_failure"] = when
        listed = "; ".join(f"{f.get('file')}: {f.get('reason')}" for f in failed or [])
        e["error"] = (error or listed or "未知错误")[:1000]
    allh[name] = e
    write_json(lake.state_dir / HEALTH_FILE, allh)
    return e


_MANIFESTS: dict[str, tuple[int, dict]] = {}  # manifest path → (mtime_ns, the fields needed here)


def _manifests(lake: Lake) -> list[dict]:
    """file, run_id, landed_at, rows_quarantined of every landed delivery (each manifest parsed once a process)."""
    out = []
    try:
        entries = list(os.scandir(lake.manifest_dir))
    except OSError:
        return out
    for d in entries:
        if not d.name.endswith(".json"):
            continue
        try:
            mt = d.stat().st_mtime_ns
        except OSError:
            continue
        hit = _MANIFESTS.get(d.path)
        if hit is None or hit[0] != mt:
            m = _read_json(Path(d.path))
            if m is None:
                continue
            hit = (mt, {k: m.get(k) for k in ("file", "run_id", "landed_at", "rows_quarantined", "dataset")})
            _MANIFESTS[d.path] = hit
        out.append(hit[1])
    return out


def _landed_later(f: dict, landed: dict[str, list[dict]]) -> bool:
    for m in landed.get(f["file"], ()):
        if f.get("run_id") and m.get("run_id"):
            # run ids begin with their start time (%Y%m%dT%H%M%S); the rest is random
            if m["run_id"] != f["run_id"] and m["run_id"][:15] >= f["run_id"][:15]:
                return True
        elif (m.get("landed_at") or "") > (f.get("last_seen") or ""):
            return True
    return False


def _sources_state(lake: Lake | Path) -> tuple[Lake, dict[str, dict]]:
    lake = lake if isinstance(lake, Lake) else Lake(lake)
    return lake, read_health(lake)


def open_failures(lake: Lake | Path, known: dict[str, dict] | None = None) -> list[dict]:
    """Every import failure not yet resolved, over every source that ever ran (configured or not), oldest first:
    source_name, kind, unit (文件 | 前置库批次 | 接口批次), file, reason, rows (data rows of the file, when it
    could count them), first_seen, last_seen (datetimes), run_id (the last run that listed it).

    A failed file (page, batch) stays open until a later run landed a delivery of that name (from any source) or
    a later run of its source no longer lists it (it was removed from the drop, or it was read this time). This is
    the one place that decides it: `etl health`, the 数据质量 page and the wall all ask here."""
    if known is None:
        lake, known = _sources_state(lake)
    elif not isinstance(lake, Lake):
        lake = Lake(lake)
    out = []
    for name, e in known.items():
        if not isinstance(e, dict):
            continue
        open_, _ = _current(lake, e)
        kind = e.get("kind") or "files"
        for f in open_.values():
            out.append({"source_name": name, "kind": kind, "kind_label": KIND_LABELS.get(kind, kind),
                        "unit": FAIL_UNITS.get(kind, "文件"), "file": f["file"], "reason": f.get("reason") or "",
                        "rows": f.get("rows"), "first_seen": _ts(f.get("first_seen")),
                        "last_seen": _ts(f.get("last_seen")), "run_id": f.get("run_id")})
    if out:
        landed: dict[str, list[dict]] = {}
        for m in _manifests(lake):
            landed.setdefault(m.get("file"), []).append(m)
        out = [f for f in out if not _landed_later({**f, "last_seen": str(f["last_seen"] or "")}, landed)]
    out.sort(key=lambda f: (f["first_seen"] or dt.datetime.min, f["source_name"], f["file"]))
    return out


def recent_quarantine(lake: Lake | Path, known: dict[str, dict] | None = None) -> list[dict]:
    """Per source whose latest run that landed anything quarantined rows: source_name, kind, run_id, when,
    rows_quarantined, rows_landed, files (the delivered files with quarantined rows). It stays until that
    source's next delivery lands without quarantine; the rows themselves are on the 数据质量 page."""
    if known is None:
        lake, known = _sources_state(lake)
    elif not isinstance(lake, Lake):
        lake = Lake(lake)
    out = []
    for name, e in known.items():
        if not isinstance(e, dict):
            continue
        _, landing = _current(lake, e)
        if landing and landing.get("rows_quarantined"):
            out.append({"source_name": name, "kind": e.get("kind") or "files", "run_id": landing.get("run_id"),
                        "when": _ts(landing.get("when")), "rows_quarantined": int(landing["rows_quarantined"]),
                        "rows_landed": int(landing.get("rows_landed") or 0), "files": []})
    if out:
        by_run: dict[str, list[str]] = {}
        for m in _manifests(lake):
            if m.get("rows_quarantined"):
                by_run.setdefault(m.get("run_id"), []).append(m.get("file"))
        for q in out:
            q["files"] = sorted(set(by_run.get(q["run_id"], [])))  # a city's counties deliver files of one name
    out.sort(key=lambda q: (q["when"] or dt.datetime.min), reverse=True)
    return out


def failure_summary(failures: list[dict]) -> str:
    """E.g. "3 个文件、1 个接口批次导入失败" ('' when there are none): no file content, no personal data."""
    n = Counter(f["unit"] for f in failures)
    return "、".join(f"{c} 个{u}" for u, c in n.items()) + "导入失败" if n else ""


def status_of(e: dict | None, quiet_hours: float, now: dt.datetime, open_count: int = 0) -> str:
    if not e or not e.get("last_attempt"):
        return "never"
    if e.get("last_result") == "failed":
        return "failed"
    if e.get("last_result") == "partial" or open_count:
        return "partial"
    ref = _ts(e.get("last_new_data")) or _ts(e.get("first_success"))
    if ref is None or now - ref > dt.timedelta(hours=quiet_hours):
        return "quiet"
    return "ok"


def health(settings: Settings, lake_dir: Path | None = None, now: dt.datetime | None = None,
           include_unconfigured: bool = False, default_drop: bool = False) -> list[dict]:
    """Per configured source (with default_drop, also the default drop folder once it ran: `etl run` without
    --from/--source; with include_unconfigured, every source ever run): name, kind, source (no secrets),
    configured, status ok | partial | failed | quiet | never, status_label, last_attempt, last_success,
    last_failure, last_new_data, error, quiet_hours, failures (its open import failures, see open_failures),
    message (one Chinese line for the wall display). partial: the source runs, but files, pages or batches of it
    failed and are not resolved."""
    now = now or _now()
    lake = Lake(lake_dir or settings.paths.lake_dir)
    known = read_health(lake)
    fails: dict[str, list[dict]] = {}
    for f in open_failures(lake, known):
        fails.setdefault(f["source_name"], []).append(f)
    rows = []
    names = [s.name for s in settings.sources if s.enabled]
    drop = str(settings.paths.drop_dir)
    if default_drop and drop in known and drop not in names:
        names.append(drop)
    if include_unconfigured:
        names += sorted(n for n in known if n not in names)
    for n in names:
        cfg = configured(settings, n)
        e = known.get(n) or {}
        quiet = (cfg.quiet_hours if cfg and cfg.quiet_hours else None) or settings.feeds.quiet_hours
        kind = e.get("kind") or (kind_of(cfg.url) if cfg else "files")
        mine = fails.get(n, [])
        st = status_of(e, quiet, now, len(mine))
        error = e.get("error") if st == "failed" else None
        if st == "partial":
            error = "; ".join(f"{f['file']}: {f['reason']}" for f in mine)[:1000] or None
        rows.append({
            "name": n, "kind": kind, "kind_label": KIND_LABELS.get(kind, kind), "configured": cfg is not None,
            "source": e.get("source") or (redact(cfg.url) if cfg else ""), "status": st,
            "status_label": STATUS_LABELS[st], "last_attempt": _ts(e.get("last_attempt")),
            "last_success": _ts(e.get("last_success")), "last_failure": _ts(e.get("last_failure")),
            "last_new_data": _ts(e.get("last_new_data")), "first_success": _ts(e.get("first_success")),
            "error": error, "quiet_hours": float(quiet), "failures": mine,
            "message": _message(n, st, e, quiet, mine),
        })
    return rows


def _message(name: str, st: str, e: dict, quiet: float, failures: list[dict]) -> str:
    if st == "failed":
        return f"数据源「{name}」导入失败 ({e.get('last_failure')}): {e.get('error') or ''}".strip()
    if st == "partial":
        if not failures:
            return f"数据源「{name}」部分失败 (最近一次 {e.get('last_attempt')})"
        first = min((f["first_seen"] for f in failures if f["first_seen"]), default=None)
        return (f"数据源「{name}」部分失败: {failure_summary(failures)}"
                + (f", 最早 {first:%Y-%m-%d %H:%M}" if first else "") + f" (如 {failures[0]['file']})")
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
