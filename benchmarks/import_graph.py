"""The floor plan of `src/claimcourt`, checked: an AST import graph (imports inside functions count).

Prints, in order:
  (a) back-arrows: imports running up the floors (a module imports only from its own floor or below);
  (b) package cycles (a root module counts as a package of its own);
  (c) file cycles;
  (d) modules over 300 lines and functions over 60 lines;
  (e) vocabulary literals spelled outside the vocabulary module.

Exits 1 on any back-arrow, package cycle or file cycle. `KNOWN` lists the ones the renovation has not removed yet: a
ratchet, since `tests/unit/test_import_graph.py` fails on any violation not in it and on a listed one that
no longer exists, so the list can only shrink.
Run: `python benchmarks/import_graph.py [--src src/claimcourt]`.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = "claimcourt"
SRC = Path(__file__).resolve().parent.parent / "src" / ROOT

# The floors, bottom to top (DESIGN.md, "Layout"). Within floor 7, nodes sit below graph; within floor 8,
# eval < review < trace < web, so that no two of them can import each other.
FLOORS: dict[str, float] = {
    **dict.fromkeys(
        [
            "__init__",
            "errors",
            "vocab",
            "state",
            "extras",
            "csv_cells",
            "urls",
            "run_ids",
            "paths",
            "seen_ids",
            "display",
            "batching",
            "data",
            "examples",
        ],
        1,
    ),
    **dict.fromkeys(["config", "tables", "prompts", "workspace"], 2),
    "store": 3,
    "retrieval": 4,
    "models": 5,
    "deps": 6,
    "nodes": 7.0,
    "graph": 7.1,
    "eval": 8.0,
    "review": 8.1,
    "trace": 8.2,
    "web": 8.3,
    "jobs": 9,
    **dict.fromkeys(["server", "served_reviews", "cli"], 10),
}

MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60

# The words of the one vocabulary (node names, routes, claim statuses), counted where they are spelled as
# string literals outside the module that owns them.
VOCABULARY = (
    "pending_review",
    "human_review",
    "finalize",
    "judge",
    "advocate",
    "skeptic",
    "retrieve",
    "queued",
    "human",
)
VOCABULARY_MODULES = ("vocab",)

# Today's known violations: the ratchet. Remove an entry when its violation is gone; never add one.
# Back-arrows as "importer -> imported" (modules), package cycles as sorted, comma-joined packages.
KNOWN: frozenset[str] = frozenset()  # empty since the renovation: keep it so


@dataclass
class Module:
    name: str  # dotted, without the "claimcourt." prefix; a package is its __init__ ("review")
    path: Path
    lines: int
    imports: set[str] = field(default_factory=set)
    long_functions: list[tuple[str, int]] = field(default_factory=list)

    @property
    def package(self) -> str:
        return self.name.split(".")[0]


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _resolve(target: str, names: list[str], known: set[str]) -> set[str]:
    """The modules an import statement of `target` (dotted, within the package) loads for `names`."""
    found = set()
    for name in names:
        sub = f"{target}.{name}" if target else name
        if sub in known:
            found.add(sub)
        elif target in known:
            found.add(target)
    if not names and target in known:
        found.add(target)
    return found


def _imports(tree: ast.AST, me: str, is_package: bool, known: set[str]) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                    target = alias.name[len(ROOT) + 1 :]
                    while target and target not in known:
                        target = target.rpartition(".")[0]
                    if target:
                        out.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = me.split(".") if is_package else me.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == ROOT or node.module.startswith(ROOT + ".")):
                target = node.module[len(ROOT) + 1 :]
            else:
                continue
            out |= _resolve(target, [a.name for a in node.names], known)
    out.discard(me)
    return out


def _long_functions(tree: ast.AST) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append((node.name, length))
    return found


def load(src: Path = SRC) -> dict[str, Module]:
    paths = sorted(src.rglob("*.py"))
    known = {module_name(p, src) for p in paths}
    modules = {}
    for path in paths:
        name = module_name(path, src)
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
        module = Module(name, path, len(text.splitlines()))
        module.imports = _imports(tree, name, path.name == "__init__.py", known)
        module.long_functions = _long_functions(tree)
        modules[name] = module
    return modules


def floor(name: str) -> float:
    package = name.split(".")[0]
    if package not in FLOORS:
        raise SystemExit(f"import_graph: {name!r} has no floor: add its package to FLOORS")
    return FLOORS[package]


def back_arrows(modules: dict[str, Module]) -> list[str]:
    return sorted(
        f"{m.name} -> {target}" for m in modules.values() for target in m.imports if floor(target) > floor(m.name)
    )


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def package_cycles(modules: dict[str, Module]) -> list[str]:
    graph: dict[str, set[str]] = {}
    for m in modules.values():
        graph.setdefault(m.package, set()).update(t.split(".")[0] for t in m.imports)
    for package, targets in graph.items():
        targets.discard(package)
    return [", ".join(c) for c in _cycles(graph)]


def file_cycles(modules: dict[str, Module]) -> list[str]:
    return [", ".join(c) for c in _cycles({m.name: set(m.imports) for m in modules.values()})]


def vocabulary_literals(src: Path = SRC) -> Counter[str]:
    counts: Counter[str] = Counter()
    pattern = re.compile("[\"']({})[\"']".format("|".join(VOCABULARY)))
    for path in src.rglob("*.py"):
        if module_name(path, src) in VOCABULARY_MODULES:
            continue
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            counts[match.group(1)] += 1
    return counts


def violations(modules: dict[str, Module]) -> set[str]:
    """What fails the check: every back-arrow, package cycle and file cycle (a file cycle hides behind
    lazy or TYPE_CHECKING imports, and counts all the same: the two files cannot be read apart)."""
    cycles = {f"cycle: {c}" for c in package_cycles(modules)}
    return set(back_arrows(modules)) | cycles | {f"file cycle: {c}" for c in file_cycles(modules)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=SRC)
    args = parser.parse_args(argv)
    modules = load(args.src)

    def section(title: str, rows: list[str]) -> None:
        print(f"{title}: {len(rows)}")
        for row in rows:
            print(f"  {row}")

    arrows = back_arrows(modules)
    section("(a) back-arrows", arrows)
    section("(b) package cycles", package_cycles(modules))
    section("(c) file cycles", file_cycles(modules))
    big = sorted((m for m in modules.values() if m.lines > MAX_MODULE_LINES), key=lambda m: -m.lines)
    section(f"(d) modules over {MAX_MODULE_LINES} lines", [f"{m.name} {m.lines}" for m in big])
    long = sorted(((m.name, f, n) for m in modules.values() for f, n in m.long_functions), key=lambda r: -r[2])
    section(f"(d) functions over {MAX_FUNCTION_LINES} lines", [f"{m}.{f} {n}" for m, f, n in long])
    literals = vocabulary_literals(args.src)
    section(
        f"(e) vocabulary literals outside {', '.join(VOCABULARY_MODULES)} (total {sum(literals.values())})",
        [f'"{word}" {count}' for word, count in literals.most_common()],
    )

    found = violations(modules)
    new = sorted(found - KNOWN)
    gone = sorted(KNOWN - found)
    if gone:
        section("listed in KNOWN but gone (remove them from the list)", gone)
    if new:
        section("NEW violations (not in KNOWN)", new)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
