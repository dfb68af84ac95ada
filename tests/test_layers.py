"""The layer rule written down as code: imports go one way through the house.

    pages  →  dashboard  →  warehouse  →  etl  →  core
                 ↘ demo (first start only)      ↗
    perf (measuring tools) and tests may import anything; nothing imports them.

- `core` (settings, the domain vocabulary, file primitives) imports none of ours; everything may import it.
- `etl` (feeding systems → lake) imports only `core` — and, once, the orchestration call: `etl.pipeline` asks
  `warehouse.build` to build and publish what it landed.
- `warehouse` (build, publish, metrics, bulletin) reads the lake through `etl` (a downward import).
- `dashboard` (shared UI, the one door to the data) uses `warehouse` and `etl`; pages only arrange what
  `dashboard` gives them.
- `demo` (the demo county, the feed simulator) is a tool apart from the production path: only the first-start
  build of the app and the `etl demo` command reach it.

Every import is parsed (also those inside functions); a module-level import circle fails too.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "etl", "warehouse", "dashboard", "pages", "demo", "perf")

# which of our packages each package may import
MAY_IMPORT = {
    "core": {"core"},
    "etl": {"core", "etl"},
    "warehouse": {"core", "etl", "warehouse"},
    "dashboard": {"core", "etl", "warehouse", "dashboard"},
    "pages": {"core", "dashboard"},
    "demo": {"core", "etl", "demo"},
    "perf": set(PACKAGES),
}
# the named exceptions: (importing module, imported module or package)
EXCEPTIONS = {
    ("etl.pipeline", "warehouse.build"),  # the orchestration call: build and publish what was landed
    ("dashboard.bootstrap", "demo"),  # the app's first start builds the demo county
    ("etl.__main__", "demo"),  # `python -m etl demo` writes the demo county's deliveries
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in (root / pkg).rglob("*.py") if (root / pkg).is_dir() else []:
            out[_module_name(p, root)] = p
    return out


def _imports(path: Path, name: str, known: set[str]) -> list[tuple[str, int, bool]]:
    """(imported module of ours, line, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top = {id(n) for n in tree.body}
    for n in tree.body:  # `if TYPE_CHECKING:` / try blocks at module level count as module level
        if isinstance(n, (ast.If, ast.Try)):
            top |= {id(m) for m in ast.walk(n)}
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            targets = []
            for a in node.names:
                sub = f"{base}.{a.name}"
                targets.append(sub if sub in known else base)
        else:
            continue
        for t in targets:
            if t.split(".")[0] in PACKAGES:
                out.append((t, node.lineno, id(node) in top))
    return out


def _violations(root: Path = ROOT) -> tuple[list[str], list[list[str]]]:
    mods = _modules(root)
    known = set(mods)
    bad, graph = [], {m: set() for m in mods}
    for name, path in mods.items():
        pkg = name.split(".")[0]
        for target, line, at_top in _imports(path, name, known):
            tpkg = target.split(".")[0]
            allowed = tpkg in MAY_IMPORT[pkg] or any(
                name == a and (target == b or target.startswith(b + ".")) for a, b in EXCEPTIONS)
            if not allowed:
                bad.append(f"{path.relative_to(root)}:{line}: {name} imports {target} ({pkg} → {tpkg})")
            if at_top and target in graph and target != name:
                graph[name].add(target)
    return bad, _cycles(graph)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_imports_go_one_way_through_the_house():
    bad, cycles = _violations()
    assert not bad, "upward imports:\n" + "\n".join(bad)
    assert not cycles, "import circles: " + "; ".join(" ↔ ".join(c) for c in cycles)


@pytest.mark.parametrize("where, line", [
    ("etl/readers.py", "from warehouse import metrics\n"),  # a feed module reaching up into the warehouse
    ("core/spec.py", "import etl.lake\n"),  # the neutral package importing a layer
    ("pages/events.py", "from warehouse import metrics\n"),  # a page around the one door to the data
    ("warehouse/metrics.py", "    from dashboard import ui\n"),  # inside a function counts too
])
def test_the_rule_fails_on_an_upward_import(tmp_path, where, line):
    """The test is not vacuous: a copy of the code with one upward import added fails it."""
    for pkg in PACKAGES:
        if (ROOT / pkg).is_dir():
            for p in (ROOT / pkg).rglob("*.py"):
                dst = tmp_path / p.relative_to(ROOT)
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    target = tmp_path / where
    text = target.read_text(encoding="utf-8")
    if line.startswith("    "):
        text += "\n\ndef _added():\n" + line
    else:
        text += "\n" + line
    target.write_text(text, encoding="utf-8")
    bad, _ = _violations(tmp_path)
    assert any(where in b for b in bad), bad


def test_a_circle_fails(tmp_path):
    (tmp_path / "etl").mkdir()
    (tmp_path / "etl" / "a.py").write_text("from etl import b\n", encoding="utf-8")
    (tmp_path / "etl" / "b.py").write_text("import etl.a\n", encoding="utf-8")
    _, cycles = _violations(tmp_path)
    assert cycles == [["etl.a", "etl.b"]]
