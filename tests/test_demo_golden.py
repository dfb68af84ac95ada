"""The demo county is byte-identical for given arguments: every delivered file and the truth json of a small demo
have the sha256 recorded in tests/data/demo_golden.json.

The manifest pins the generator's output (seed → bytes), so a refactoring of the generator that changes one byte
fails here. A deliberate change of the demo data rewrites the manifest: `python tests/test_demo_golden.py`.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from demo import TRUTH_FILE, generate  # noqa: E402

MANIFEST = Path(__file__).resolve().parent / "data" / "demo_golden.json"
# small demos: three months (every file format of the cycle: xlsx, csv gbk/utf-8/BOM, json, jsonl) and one
# month of another county of a prefecture (ids and codes rekeyed)
CASES = {
    "m3-seed7": dict(months=3, seed=7, end_month="2025-02"),
    "m1-county3": dict(months=1, seed=20240401, end_month="2025-02", county_index=3),
}


def _hashes(out: Path, args: dict) -> dict[str, str]:
    generate(out, **args)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir()) if p.is_file()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_demo_files_match_the_golden_manifest(tmp_path, case):
    want = json.loads(MANIFEST.read_text(encoding="utf-8"))[case]
    got = _hashes(tmp_path / "drop", CASES[case])
    assert TRUTH_FILE in got and len(got) >= 10
    assert sorted(got) == sorted(want), "file names differ"
    assert [n for n in sorted(got) if got[n] != want[n]] == [], "files whose bytes differ"


if __name__ == "__main__":  # rewrite the manifest from the current generator
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        MANIFEST.parent.mkdir(parents=True, exist_ok=True)
        MANIFEST.write_text(json.dumps({c: _hashes(Path(d) / c, a) for c, a in sorted(CASES.items())},
                                       indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {MANIFEST}")
