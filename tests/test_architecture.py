"""The house rule: dependencies between packages point one way, and the core points nowhere.

Walks every module's imports with ``ast`` (lazy imports inside functions included) and
fails on an import that the layering below does not allow. The composition root
(``greenpipe.app``: CLI, demo, embedded broker launcher, and ``python -m greenpipe``) may
import everything; nothing imports it. See README "Architecture" and shared conventions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CORE = "greenpipe"
APP = "greenpipe.app"
ALLOWED: dict[str, set[str]] = {
    CORE: set(),
    "collector": {CORE},
    "simulators": {CORE},
    "forecasting": {CORE},
    "alerts": {CORE},
    "brokerauth": {CORE},
    "findings": {CORE, "forecasting"},
    "reports": {CORE, "forecasting"},
    "dashboard": {CORE, "forecasting", "findings", "reports"},
    APP: {CORE, "collector", "simulators", "forecasting", "alerts", "brokerauth", "findings",
          "reports", "dashboard"},
}
"""Which packages each package may import (besides itself)."""
PACKAGES = [p for p in ALLOWED if p != APP]


def layer_of_module(name: str) -> str | None:
    """The layer a dotted module name belongs to, or None for third-party modules."""
    if name == APP or name.startswith(APP + "."):
        return APP
    top = name.split(".")[0]
    return top if top in ALLOWED else None


def layer_of_file(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[0] == CORE and (len(rel.parts) > 1 and rel.parts[1] in ("app", "__main__.py")):
        return APP
    return rel.parts[0]


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in ``path``, lazy ones included."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            # ``from greenpipe import app`` names a subpackage, not an attribute.
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                    if node.module == CORE and a.name == "app"]
    return out


def package_files() -> list[Path]:
    return sorted(f for pkg in PACKAGES for f in (ROOT / pkg).rglob("*.py"))


def test_every_package_is_found() -> None:
    for pkg in PACKAGES:
        assert (ROOT / pkg / "__init__.py").is_file(), pkg


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path: Path) -> None:
    src = layer_of_file(path)
    bad = []
    for line, module in imports_of(path):
        dst = layer_of_module(module)
        if dst is None or dst == src:
            continue
        if dst not in ALLOWED[src]:
            bad.append(f"{path.relative_to(ROOT)}:{line} imports {module} ({src} -> {dst})")
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_the_allowed_graph_has_no_cycle() -> None:
    seen: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        if seen.get(node) == 1:
            raise AssertionError("cycle: " + " -> ".join([*stack, node]))
        if seen.get(node) == 2:
            return
        seen[node] = 1
        for nxt in ALLOWED[node]:
            visit(nxt, [*stack, node])
        seen[node] = 2

    for pkg in ALLOWED:
        visit(pkg, [])


def test_nothing_imports_the_composition_root() -> None:
    users = [f"{p.relative_to(ROOT)}:{line}" for p in package_files()
             if layer_of_file(p) != APP
             for line, module in imports_of(p) if layer_of_module(module) == APP]
    assert users == []


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    """The walker sees lazy imports inside functions (the form the old CLI used)."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from collector.service import Collector\n    import dashboard\n")
    assert [m for _, m in imports_of(f)] == ["collector.service", "dashboard"]
    assert layer_of_module("greenpipe.app.cli") == APP
    assert layer_of_module("greenpipe.stores") == CORE
