"""Typed configuration: `config.toml` at the project root, or the file named by GRIDWATCH_CONFIG.

Defaults here equal the documented defaults in config.toml and docs/metrics.md, so a missing file or a missing
key always means "the documented default".
"""
from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "GRIDWATCH_CONFIG"


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class County(_M):
    name: str = "示例县"
    code: str = "510799"
    center_lon: float = 105.20
    center_lat: float = 31.60


class Deployment(_M):
    """Which level the deployment serves: "county" (one county, no extra level shown; the default) or "city" (a
    prefecture: several counties in one lake, county comparison and drill-down 市 → 县 → 乡镇, README "地市部署")."""
    level: Literal["county", "city"] = "county"


class City(_M):
    """The prefecture of a city deployment. Its counties come from the org_units deliveries (one 县 row per county,
    unit_code = the county's 6-digit 区划代码); [county] name/code is the fallback name of its own county."""
    name: str = "示例市"
    code: str = Field("510700", pattern=r"^\d{6}$")  # 6-digit 区划代码 of the prefecture (NNNN00)


class Paths(_M):
    data_dir: Path = Path("data")
    drop_dir: Path = Path("data/drop")
    lake_dir: Path = Path("data/lake")
    warehouse_dir: Path = Path("data/warehouse")
    keep_versions: int = Field(3, ge=1)


class Etl(_M):
    future_tolerance_hours: float = 24
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 2
    workers: int = Field(2, ge=1)
    parallel_min_mb: float = Field(32, ge=0)
    max_future_days: float = Field(366, gt=0)  # a time later than load + this is out of range (unreadable)
    min_year: int = Field(2000, ge=1, le=9999)  # a time before 1 January of this year is out of range
    profile_dirs: list[Path] = Field(default_factory=list)  # extra source-profile folders (*.toml), etl/source_profiles.py


class Demo(_M):
    auto: bool = True
    months: int = 14
    seed: int = 20240401
    # a city deployment's first start: the demo city (示例市) of this many counties × months (kept small: quick)
    city_counties: int = Field(3, ge=1, le=100)
    city_months: int = Field(1, ge=1)


class Split(_M):
    township: str
    urban_name: str
    rural_name: str


class ReportingUnits(_M):
    split: list[Split] = Field(default_factory=lambda: [
        Split(township="文昌镇", urban_name="文昌镇四个社区", rural_name="文昌镇农村网格"),
        Split(township="经开区", urban_name="经开区", rural_name="经开区农村网格"),
    ])


class Metrics(_M):
    min_active_days: int = 20
    activity_good: float = 0.60
    event_high: float = 1.00
    event_low: float = 0.50
    sign_good: float = 0.80
    sign_yellow_hours: float = 24
    sign_red_hours: float = 72
    report_top_fraction: float = 1 / 3
    report_name_each_max: int = 3
    red_black_size: int = 3
    week_active_days: int = Field(5, ge=1, le=7)  # 账号活跃度 of an ISO week: active with operations on ≥ this many of its 7 days


class Warnings(_M):
    """预警 (warehouse/warnings.py, warehouse/sql/warnings/): the rules' thresholds; docs/metrics.md "预警"."""
    drop_points: float = Field(30, gt=0)  # activity_drop: week on week fall of ≥ this many points
    completion_drop_points: float = Field(50, gt=0)  # completion_drop: a fall of ≥ this many points to under completion_low
    min_accounts: int = Field(3, ge=1)  # activity_drop: a unit with fewer grid-worker accounts is not judged
    min_events: int = Field(5, ge=1)  # completion_drop / completion_low: fewer events reported in a period: not judged
    completion_low: float = Field(0.50, gt=0)  # completion_low: 事件办结率 under this two months running
    red_backlog_limit: int = Field(5, ge=0)  # signoff_backlog: an office with more red sign-offs than this
    backlog_days: int = Field(30, ge=1)  # signoff_backlog: of the reports of this many days up to the as-of date
    silent_days: int = Field(14, ge=1)  # silent_unit: a reporting unit with no event reported for ≥ this many days
    quiet_days: dict[str, float] = Field(default_factory=lambda: {  # quiet_source: expected interval per dataset
        "activity_log": 2, "events": 3, "key_person_reports": 10, "collection_stats": 7})
    effective_gap_points: float = Field(10, gt=0)  # effective_gap: 有效活跃度 ≥ this many points below the official rate
    history_weeks: int = Field(12, ge=2)  # first_seen looks this many weeks (or months, completion_low) back
    top_n: int = Field(3, ge=0)  # the wall shows the count and this many reason lines
    answer_days: int = Field(7, ge=1)  # a 督办单 is to be answered within this many days


class ActivityQuality(_M):
    """有效活跃度 signals per account and period (warehouse/schema/60_activity_quality.sql, docs/metrics.md)."""
    login_only_days: int = Field(5, ge=1)  # login_only: ≥ this many days with only 登录/其他 operations
    bunched_minutes: float = Field(10, gt=0)  # bunched: a day whose operations all fall within this many minutes …
    bunched_min_ops: int = Field(3, ge=2)  # … and number at least this many
    bunched_days: int = Field(5, ge=1)  # … on ≥ this many days
    night_start_hour: int = Field(0, ge=0, le=23)  # night_batch: 巡查 from this hour (inclusive) …
    night_end_hour: int = Field(5, ge=1, le=24)  # … to this hour (exclusive)
    night_burst_minutes: float = Field(60, gt=0)  # … at least night_min_ops of them within this many minutes
    night_min_ops: int = Field(8, ge=2)
    night_days: int = Field(1, ge=1)  # … on ≥ this many nights
    same_fix_days: int = Field(5, ge=2)  # same_gps: one 手持终端/APP position fix is the day's fix on ≥ this many days
    outside_min_points: int = Field(10, ge=1)  # outside_grid: of ≥ this many 巡查 points …
    outside_share: float = Field(0.6, gt=0, le=1)  # … this share or more outside the account's own grid


class Dashboard(_M):
    refresh_seconds: float = 60
    rotate_seconds: float = 0
    stale_hours: float = 48
    cache_ttl_seconds: int = 600
    cache_max_entries: int = 256
    map_tile_url: str = ""
    upload_max_mb: int = Field(50, ge=0)  # largest uploaded file, for sessions whose role may upload (else none)


class Feeds(_M):
    """Delivery channels other than the file drop: the 前置库 (PostgreSQL), the HTTP API, and `etl watch`."""
    secrets_file: Path | None = None  # TOML with pg_password / api_token (see secrets.example.toml); or $GRIDWATCH_SECRETS
    lookback_seconds: float = Field(60, ge=0)  # re-read this far behind a watermark (rows already landed are skipped)
    pg_schema: str = "public"
    pg_batch_rows: int = Field(200_000, ge=1)  # rows per delivery pulled from a 前置库 table
    pg_connect_timeout_seconds: int = Field(10, ge=1)
    api_page_size: int = Field(5000, ge=1)
    api_batch_rows: int = Field(200_000, ge=1)  # complete pages are gathered into deliveries of about this size
    api_timeout_seconds: float = Field(30, gt=0)  # per request, connect + whole response
    api_max_retries: int = Field(6, ge=0)  # per request, for 429, 5xx, time-outs and dropped connections
    api_backoff_seconds: float = Field(1.0, ge=0)  # first wait; doubles per retry (with jitter)
    api_backoff_max_seconds: float = Field(60, ge=0)  # cap on one wait (also on a server's Retry-After)
    api_ca_file: Path | None = None  # PEM bundle of a private CA for https; empty = the system's CAs
    watch_interval_seconds: float = Field(900, gt=0)
    quiet_hours: float = Field(26, gt=0)  # a source without new rows for this long is "quiet" (an alert)

    @field_validator("secrets_file", "api_ca_file", mode="before")
    @classmethod
    def _empty_is_none(cls, v):
        return None if v in ("", None) else v


class Source(_M):
    """One configured feeding source, run by `python -m etl watch` (and `etl run --source NAME`)."""
    name: str
    url: str  # a drop folder, postgresql://user@host:port/db (no password), or http(s)://host[/prefix]
    enabled: bool = True
    datasets: list[str] = Field(default_factory=list)  # empty = every dataset of the contract
    quiet_hours: float | None = None  # overrides feeds.quiet_hours for this source


class Auth(_M):
    """Access control (dashboard/auth.py, dashboard/users.py): the user store, lockout, session expiry, OIDC."""
    store: Path | None = None  # SQLite user store (users, display tokens, audit log); default {data_dir}/auth/users.db
    max_failures: int = Field(5, ge=1)  # failed logins in a row before the user name is locked
    lockout_minutes: float = Field(15, gt=0)
    idle_minutes: float = Field(30, gt=0)  # a session without interaction for this long must log in again
    max_session_hours: float = Field(12, gt=0)  # and every session after this long, active or not
    min_password_length: int = Field(10, ge=8)
    web_setup: bool = True  # once per store, the first visitor creates the first 县级管理员 (else: only the CLI)
    oidc: bool = False  # also offer st.login (needs [auth] in .streamlit/secrets.toml and Authlib)
    oidc_provider: str = ""  # the provider's name under [auth.<name>] in secrets.toml; empty = the [auth] default
    oidc_claim: str = "email"  # the claim matched to a user name of the store (users added with --oidc)
    client_max_failures: int = Field(20, ge=1)  # failed logins (any names) from one client address before it is locked
    audit_key_file: Path | None = None  # key of the audit hash chain (0600, created at first use); default beside the config
    display_cookie_days: float = Field(30, gt=0)  # the wall display's login cookie (gw_display) lasts this long

    @field_validator("store", "audit_key_file", mode="before")
    @classmethod
    def _empty_store(cls, v):
        return None if v in ("", None) else v


class BulletinDoc(_M):
    """The bulletin's document furniture (warehouse/bulletin_docx.py): all optional, empty = left out."""
    red_header: str = ""  # 红头 (发文机关标志), e.g. "示例县综治中心": red large type over a red rule
    doc_number: str = ""  # 文号 under the 红头, e.g. "示综治〔{year}〕{month}号" ({year}, {month} of the bulletin)
    issuer: str = ""  # 落款 (发文机关署名); empty = "{county.name}网格化服务管理中心"
    cc: str = ""  # 抄送 line of the 版记, e.g. "县委政法委，县委办，县政府办"
    printed_by: str = ""  # 印发机关 of the 版记, e.g. "示例县综治中心办公室" (with the issue date: "…印发")


ASSESSMENT_INDICATORS = ("activity", "effective", "completion", "on_time", "sign", "collection", "supervision")


class AssessmentWeights(_M):
    """季度考核 indicator weights (points out of 100; they must sum to 100). 0 leaves an indicator out."""
    activity: float = Field(20, ge=0)  # 账号活跃度 (official)
    effective: float = Field(15, ge=0)  # 有效活跃度 (substantive work only)
    completion: float = Field(20, ge=0)  # 事件办结完成率
    on_time: float = Field(15, ge=0)  # 按期办结率
    sign: float = Field(10, ge=0)  # 重点人员信息签收率
    collection: float = Field(10, ge=0)  # 信息采集率
    supervision: float = Field(10, ge=0)  # 督办答复率

    @model_validator(mode="after")
    def _sum_100(self):
        total = sum(getattr(self, k) for k in ASSESSMENT_INDICATORS)
        if abs(total - 100) > 1e-9:
            raise ValueError(f"[assessment.weights] 各项权重之和应为 100, 现为 {total:g}")
        return self


class Assessment(_M):
    """季度考核 and 年度总评 (warehouse/assessment.py, docs/metrics.md "季度考核")."""
    pass_score: float = Field(80, ge=0, le=100)  # below: 不达标 (问责名单)
    reward_score: float = Field(80, ge=0, le=100)  # at or above: 优秀 (奖励名单); between the two: 达标
    weights: AssessmentWeights = Field(default_factory=AssessmentWeights)
    # 有效活跃度 per unit and month: a query of warehouse/sql with $start/$end returning ru_code, accounts and
    # effective; empty or missing: the indicator is not connected (its weight goes to the others)
    effective_query: str = "activity_quality/by_unit"

    @model_validator(mode="after")
    def _reward_above_pass(self):
        if self.reward_score < self.pass_score:
            raise ValueError("[assessment] reward_score 不能低于 pass_score")
        return self


class Settings(_M):
    deployment: Deployment = Field(default_factory=Deployment)
    city: City = Field(default_factory=City)
    county: County = Field(default_factory=County)
    paths: Paths = Field(default_factory=Paths)
    etl: Etl = Field(default_factory=Etl)
    demo: Demo = Field(default_factory=Demo)
    reporting_units: ReportingUnits = Field(default_factory=ReportingUnits)
    metrics: Metrics = Field(default_factory=Metrics)
    activity_quality: ActivityQuality = Field(default_factory=ActivityQuality)
    dashboard: Dashboard = Field(default_factory=Dashboard)
    warnings: Warnings = Field(default_factory=Warnings)
    feeds: Feeds = Field(default_factory=Feeds)
    auth: Auth = Field(default_factory=Auth)
    bulletin: BulletinDoc = Field(default_factory=BulletinDoc)
    assessment: Assessment = Field(default_factory=Assessment)
    sources: list[Source] = Field(default_factory=list)
    source_file: Path | None = None
    config_dir: Path | None = None  # relative folder sources are resolved against it

    def resolve(self, base: Path) -> Settings:
        """Make relative paths absolute against `base` (the directory of the config file)."""
        p = self.paths
        fix = lambda v: v if v.is_absolute() else (base / v)  # noqa: E731
        self.paths = p.model_copy(update={k: fix(getattr(p, k)) for k in
                                          ("data_dir", "drop_dir", "lake_dir", "warehouse_dir")})
        f = self.feeds
        self.feeds = f.model_copy(update={k: fix(getattr(f, k)) for k in ("secrets_file", "api_ca_file")
                                          if getattr(f, k) is not None and str(getattr(f, k))})
        a = self.auth
        self.auth = a.model_copy(update={"store": fix(a.store) if a.store is not None
                                         else self.paths.data_dir / "auth" / "users.db",
                                         "audit_key_file": fix(a.audit_key_file) if a.audit_key_file
                                         else base / "audit.key"})
        self.etl = self.etl.model_copy(update={"profile_dirs": [fix(Path(d)) for d in self.etl.profile_dirs]})
        self.config_dir = base
        return self


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Load settings from `path`, else $GRIDWATCH_CONFIG, else ROOT/config.toml, else defaults."""
    chosen = Path(path) if path else (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else ROOT / "config.toml")
    if chosen.exists():
        with open(chosen, "rb") as fh:
            data = tomllib.load(fh)
        s = Settings.model_validate(data)
        s.source_file = chosen.resolve()
        return s.resolve(chosen.resolve().parent)
    if path or os.environ.get(ENV_VAR):
        raise FileNotFoundError(f"配置文件不存在: {chosen}")
    return Settings().resolve(ROOT)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings (tests call load_settings directly)."""
    return load_settings()


# ----------------------------------------------------------------------------------------------- files on disk
PRIVATE_UMASK = 0o077


def owner_only(*folders: os.PathLike | str) -> None:
    """Personal data on disk is owner-only: from now on every file and folder this process creates is 0600/0700
    whatever umask it inherited (the umask is process-wide: the ETL, the app and their worker processes all set
    it), and the given folders — the lake, the warehouse, the data folder — and everything already under them are
    made owner-only too (an install from before this rule is tightened on its next run)."""
    os.umask(PRIVATE_UMASK)
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            _chmod(dirpath, 0o700)
            for f in filenames:
                _chmod(os.path.join(dirpath, f), 0o600)


def _chmod(path: str, mode: int) -> None:
    try:
        st = os.lstat(path)
    except OSError:
        return
    if (st.st_mode & 0o777) != mode and not os.path.islink(path):
        try:
            os.chmod(path, mode)
        except OSError:  # a file another user owns: the run still goes on; the check below names it
            pass
