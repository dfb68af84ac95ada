"""Who is looking: the scope every query of this session runs with.

Until login arrives (issue #5), every working page runs county-wide with personal data masked, and the wall
display runs with aggregates only (it builds its own Scope). The scope is never read from the URL.
"""
from __future__ import annotations

from warehouse.metrics import Scope

WORKING = Scope(personal="masked", label="全县")


def scope() -> Scope:
    return WORKING
