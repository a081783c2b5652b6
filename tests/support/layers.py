"""The import-layer check: which reidcam package may import which, and no import cycles.

Reads the source with :mod:`ast` (imports nothing it checks), so a lazy import inside a function
or a ``TYPE_CHECKING`` block counts like any other: each is a dependency all the same.

``LAYERS`` lists the top-level parts of ``reidcam`` from the bottom up. A module may import its
own part and any part of a *lower* layer; parts of one layer are independent of each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = "reidcam"

# Bottom first. "cli" is the module reidcam/cli.py.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(group)
    for group in (
        {"core", ""},  # pure types, NumPy only; "" is reidcam/__init__.py (the version)
        {"config"},  # YAML -> pydantic
        {"devices", "runtime"},  # device choice; threads, priority, allocator, background worker
        {"capture", "detect", "track", "match", "storage"},  # the stages, and storage's engine/tables/files
        {"reid", "broker"},  # crops, embedders, query enrolment; the NATS JetStream transport
        {"pipeline"},  # the camera loop: strings the stages together, talks only to an EventSink
        # event sinks: the identity memory, the search output folders; the scale-out worker
        {"identity", "outputs", "cluster"},
        {"perf"},  # `reidcam bench`: pipeline figures (its sample-video cameras also feed eval)
        {"eval", "export"},  # offline tools: evaluation, calibration runs, model export
        {"web"},  # the app: routes over the pipeline, the identity memory and the tools
        {"commands", "testing"},  # `reidcam` sub-commands; fakes for tests
        {"cli"},  # the entry point
    )
)


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to a reidcam module, where it stands."""

    importer: str
    target: str
    path: Path
    line: int


def module_name(path: Path, src: Path) -> str:
    """``src/reidcam/a/b.py`` -> ``reidcam.a.b``; a package's ``__init__.py`` is the package."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _targets(node: ast.AST, importer: str, is_package: bool, modules: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = _absolute(node, importer, is_package)
    # `from pkg import mod` depends on the module pkg.mod; `from mod import name` on mod
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def imports_in(source: str, importer: str, path: Path, modules: set[str], is_package: bool) -> list[Import]:
    """Every import of a ``reidcam`` module in one module's source, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        for target in _targets(node, importer, is_package, modules):
            if target == ROOT or target.startswith(ROOT + "."):
                found.append(Import(importer, target, path, getattr(node, "lineno", 0)))
    return found


def scan(src: Path) -> list[Import]:
    """All reidcam-internal imports under ``src/reidcam``."""
    files = sorted((src / ROOT).rglob("*.py"))
    modules = {module_name(p, src) for p in files}
    found: list[Import] = []
    for p in files:
        found += imports_in(
            p.read_text(encoding="utf-8"), module_name(p, src), p, modules, p.stem == "__init__"
        )
    return found


def part(module: str) -> str:
    """``reidcam.pipeline.step`` -> ``pipeline``; ``reidcam`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(name: str, layers: Sequence[frozenset[str]] = LAYERS) -> int:
    for i, group in enumerate(layers):
        if name in group:
            return i
    raise KeyError(f"reidcam.{name} is in no layer: add it to LAYERS in {__file__}")


def layer_violations(found: Iterable[Import], layers: Sequence[frozenset[str]] = LAYERS) -> list[str]:
    """One line per import that points sideways or up, naming both ends and where it is."""
    bad = []
    for imp in found:
        a, b = part(imp.importer), part(imp.target)
        if a == b:
            continue
        la, lb = layer_of(a, layers), layer_of(b, layers)
        if lb >= la:
            how = "a sibling in its layer" if lb == la else "a higher layer"
            bad.append(f"{imp.path}:{imp.line}: {imp.importer} imports {imp.target} ({how})")
    return bad


def cycles(found: Iterable[Import]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted; self-imports ignored."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        if imp.importer != imp.target:
            graph.setdefault(imp.importer, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    return [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]


def _strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups
