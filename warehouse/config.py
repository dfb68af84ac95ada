"""Typed configuration: `config.toml` at the project root, or the file named by GRIDWATCH_CONFIG.

Defaults here equal the documented defaults in config.toml and shared/domain.md, so a missing file or a missing
key always means "the documented default".
"""
from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "GRIDWATCH_CONFIG"


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class County(_M):
    name: str = "示例县"
    code: str = "510799"
    center_lon: float = 105.20
    center_lat: float = 31.60


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


class Demo(_M):
    auto: bool = True
    months: int = 14
    seed: int = 20240401


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


class Dashboard(_M):
    refresh_seconds: int = 60
    rotate_seconds: int = 0
    stale_hours: float = 48
    cache_ttl_seconds: int = 600
    cache_max_entries: int = 256
    map_tile_url: str = ""


class Settings(_M):
    county: County = Field(default_factory=County)
    paths: Paths = Field(default_factory=Paths)
    etl: Etl = Field(default_factory=Etl)
    demo: Demo = Field(default_factory=Demo)
    reporting_units: ReportingUnits = Field(default_factory=ReportingUnits)
    metrics: Metrics = Field(default_factory=Metrics)
    dashboard: Dashboard = Field(default_factory=Dashboard)
    source_file: Path | None = None

    def resolve(self, base: Path) -> "Settings":
        """Make relative paths absolute against `base` (the directory of the config file)."""
        p = self.paths
        fix = lambda v: v if v.is_absolute() else (base / v)  # noqa: E731
        self.paths = p.model_copy(update={k: fix(getattr(p, k)) for k in
                                          ("data_dir", "drop_dir", "lake_dir", "warehouse_dir")})
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
