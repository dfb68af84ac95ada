import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    """One Debian Chromium per test module, for the browser tests."""
    from support.server import chromium

    with chromium() as b:
        yield b
