"""The package's layers, read from the source: no module imports a layer above its own, no
modules import each other in a circle (imports inside functions included), and an import
inside a function is there for a heavy library, or one that may be missing, and says so
(``# heavy: ...`` or ``# optional: ...``).

The layers, top to bottom (docs/architecture.md draws them):

5 Face   the command line, the Hydra app and sweeper plugin, the job side, the study views
4 Sweep  the study runner, its policy and observers, search space, storage, records, reports
3 Train  one training run, its callbacks, evaluation, plots, the NNDrone network, the export
2 Data / Models
1 Base   tracking (MLflow, utilisation), errors, config schemas, redaction, resources
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

FACE = ("hepsweep", "hepsweep.__main__", "hepsweep.cli", "hepsweep.commands", "hepsweep.app", "hepsweep.job",
        "hepsweep.studies", "hepsweep.drone.command", "hepsweep.export.command", "hydra_plugins")
LAYERS = [
    (5, FACE),
    (4, ("hepsweep.sweep",)),
    (3, ("hepsweep.train", "hepsweep.drone", "hepsweep.export", "hepsweep.plots")),
    (2, ("hepsweep.data", "hepsweep.models")),
    (1, ("hepsweep.tracking", "hepsweep.errors", "hepsweep.hydra_errors", "hepsweep.config", "hepsweep.config_checks",
         "hepsweep.redaction", "hepsweep.locks", "hepsweep.metrics", "hepsweep.quiet",
         "hepsweep._resources")),
]


def layer(module: str) -> int:
    for number, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or (prefix != "hepsweep" and module.startswith(prefix + ".")):
                return number
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS and to docs/architecture.md")


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def resolve(name: str) -> str:
    """The module an imported name lives in (``a.b.c`` for a submodule ``c``, else ``a.b``)."""
    return name if name in MODULES else name.rsplit(".", 1)[0]


def imports(module: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                continue  # annotations only: nothing is imported when the code runs
            if isinstance(child, ast.Import):
                found.extend(Import(module, a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parts, *([child.module] if child.module else [])])
                found.extend(Import(module, resolve(f"{base}.{a.name}"), child.lineno, in_function) for a in child.names)
            visit(child, inside)

    visit(tree, False)
    return found


ALL = [i for module, path in sorted(MODULES.items()) for i in imports(module, path)]
OURS = [i for i in ALL if i.target.split(".")[0] in ("hepsweep", "hydra_plugins")]


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer(module)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [f"{i.source}:{i.line} imports {i.target}" for i in OURS if layer(i.target) > layer(i.source)]
    assert upward == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    edges: dict[str, set[str]] = {}
    for i in OURS:
        if i.target != i.source:
            edges.setdefault(i.source, set()).add(i.target)
    done: set[str] = set()

    def walk(module: str, path: list[str]) -> None:
        if module in path:
            pytest.fail("import circle: " + " -> ".join([*path[path.index(module):], module]))
        if module in done:
            return
        for target in sorted(edges.get(module, ())):
            walk(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        walk(module, [])


def test_an_import_inside_a_function_says_which_heavy_or_optional_library_it_defers() -> None:
    unexplained = []
    for i in ALL:
        if not i.in_function:
            continue
        lines = MODULES[i.source].read_text().splitlines()
        # the import's own line, or the comment lines and imports just above it
        start = i.line - 1
        while start > 0 and lines[start - 1].strip().startswith(("#", "import ", "from ")):
            start -= 1
        if not any("# heavy" in line or "# optional" in line for line in lines[start : i.line]):
            unexplained.append(f"{i.source}:{i.line} imports {i.target}")
    assert unexplained == []


def test_the_command_line_names_the_verbs_it_hands_to_hepsweep_commands() -> None:
    from hepsweep import cli, commands

    assert set(cli.VERBS) == set(commands.VERBS)
