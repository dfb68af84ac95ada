"""No dead code (issue 14): vulture finds no function, method, class or variable that nothing calls.

The scan reads the production packages, the tools and the tests together (a helper only a test calls is still
used). What vulture cannot see being used is named below with the reason, so a new finding fails here.
"""
from __future__ import annotations

from pathlib import Path

import vulture

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "etl", "warehouse", "dashboard", "pages", "demo", "perf", "tests")
KINDS = {"function", "method", "class", "variable", "property", "import"}

# (file, name): why it is used although nothing names it
USED_IMPLICITLY = {
    ("dashboard/app.py", "upload_guard"): "imported for its effect: it installs the upload guard",
    ("core/config.py", "model_config"): "pydantic reads it",
    ("core/config.py", "_empty_is_none"): "a pydantic field_validator",
    ("core/config.py", "_empty_store"): "a pydantic field_validator",
    ("core/config.py", "_sum_100"): "a pydantic model_validator ([assessment.weights])",
    ("core/config.py", "_reward_above_pass"): "a pydantic model_validator ([assessment])",
    ("core/config.py", "completion"): "an [assessment.weights] field, read by name (metrics.assessment_params)",
    ("core/config.py", "on_time"): "an [assessment.weights] field, read by name (metrics.assessment_params)",
    ("core/config.py", "sign"): "an [assessment.weights] field, read by name (metrics.assessment_params)",
    ("dashboard/wall.py", "units_key"): "st.cache_resource keys the cached deck on it",
    ("dashboard/wall.py", "points_key"): "st.cache_resource keys the cached deck on it",
    ("dashboard/city.py", "units_key"): "st.cache_resource keys the cached deck on it",
    ("demo/simulator.py", "protocol_version"): "http.server reads it",
    ("demo/simulator.py", "server_version"): "http.server reads it",
    ("demo/simulator.py", "log_message"): "http.server calls it",
    ("demo/simulator.py", "do_GET"): "http.server calls it",
    ("etl/pipeline.py", "started_ns"): "a run record's field (RunResult.as_dict), read by etl.lake.Lake.runs",
}


def _findings() -> set[tuple[str, str]]:
    v = vulture.Vulture()
    v.scavenge([str(ROOT / p) for p in PACKAGES])
    return {(str(Path(item.filename).relative_to(ROOT)), item.name)
            for item in v.get_unused_code(min_confidence=60) if item.typ in KINDS
            and not str(Path(item.filename).relative_to(ROOT)).startswith("tests/")}


def test_no_dead_code():
    found = _findings()
    dead = sorted(found - set(USED_IMPLICITLY))
    assert not dead, f"nothing calls: {dead}"


def test_the_allow_list_is_current():
    """An entry whose code is gone (or is now called) is removed from the list, so the list stays true."""
    stale = sorted(set(USED_IMPLICITLY) - _findings())
    assert not stale, f"no longer found: {stale}"


def test_the_scan_finds_dead_code(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def used():\n    return 1\n\n\ndef never_called():\n    return 2\n\n\nused()\n", encoding="utf-8")
    v = vulture.Vulture()
    v.scavenge([str(f)])
    assert [i.name for i in v.get_unused_code(min_confidence=60)] == ["never_called"]
