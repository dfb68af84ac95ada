"""What the 数据质量 page needs beyond the metrics queries: the lake's live import state (read only), the flags in
words, the final record of the run that built this version. Pages reach the feeds only through here."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from core.spec import DATASETS
from etl import sources
from etl.lake import Lake
from etl.normalize import flag_label
from warehouse.build import final_runs as _final_runs


def flag_text(dataset: str, flag: str) -> str:
    """A repair or doubt flag in words, the column named by its Chinese header (the feed contract's), not its
    English name: `bad_value:closed_at` → "… (办结时间)"."""
    base, _, rest = flag.partition(":")
    col, _, detail = rest.partition(":")
    ds = DATASETS.get(dataset)
    header = next((c.header for c in ds.columns if c.name == col), col) if ds else col
    return flag_label(":".join([base, header] + ([detail] if detail else [])) if col else base)


@dataclass
class LakeState:
    """Live from the lake (read only): a run whose files all failed may publish nothing, so the warehouse alone
    cannot say it. The same computation as `etl health` and the wall (etl.sources.open_failures)."""
    lake: Lake | None = None
    failures: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    error: str | None = None

    @property
    def failure_summary(self) -> str:
        return sources.failure_summary(self.failures)


def lake_state(lake_dir) -> LakeState:
    try:
        lake = Lake(lake_dir)
        known = sources.read_health(lake)
        return LakeState(lake, sources.open_failures(lake, known), sources.recent_quarantine(lake, known))
    except OSError as exc:
        return LakeState(error=str(exc))


def final_runs(runs: pd.DataFrame, state: LakeState) -> pd.DataFrame:
    """The run that built this version was copied before it ended: its final record from the lake."""
    return _final_runs(runs, state.lake) if state.lake is not None else runs


def source_health(settings, lake_dir=None) -> pd.DataFrame:
    """Per feeding source (configured, and the default drop folder once it ran), live from the lake as the wall
    and `etl health` compute it: its status (正常 / 部分失败 / 失败 / 无新数据 / 未运行), last success, last new
    data, the expected interval (hours without new data before it counts as quiet) and the message."""
    rows = sources.health(settings, lake_dir, default_drop=True)
    return pd.DataFrame({
        "数据源": [h["name"] for h in rows], "类型": [h["kind_label"] for h in rows],
        "状态": [h["status_label"] for h in rows],
        "最近成功": [h["last_success"] for h in rows], "最近新数据": [h["last_new_data"] for h in rows],
        "预期间隔 (小时)": [h["quiet_hours"] for h in rows],
        "未解决失败": pd.array([len(h["failures"]) for h in rows], dtype="Int64"),
        "说明": [h["message"] for h in rows]})
