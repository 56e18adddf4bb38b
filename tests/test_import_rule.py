"""The import rule of docs/architecture.md, read from the source: entry points (and compare,
genlab-compare's package) -> run -> callbacks / loggers -> models -> nets / data / metrics, with
errors and stopping below everything; nothing imports upward. Type-only imports (under
`if TYPE_CHECKING:`) do not count."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lower ranks may import higher ones (and their own layer), never the other way round.
RANKS = {
    "entry": 0,  # genlab.train, genlab.sample, ..., genlab-compare, genlab's Hydra plugins
    "compare": 0,
    "run": 1,
    "callbacks": 2,
    "loggers": 2,
    "models": 3,
    "nets": 4,
    "data": 4,
    "metrics": 4,
    "base": 5,  # genlab (the package: CONF_DIR), genlab.errors, genlab.stopping
}
BASE = {"genlab", "genlab.errors", "genlab.stopping"}


def layer(module: str) -> str | None:
    """The layer of a genlab module (None: not genlab's)."""
    parts = module.split(".")
    if parts[0] == "hydra_plugins" and len(parts) > 1 and parts[1].startswith("genlab_"):
        return "entry"
    if parts[0] != "genlab":
        return None
    if module in BASE:
        return "base"
    return parts[1] if parts[1] in RANKS else "entry"


def is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or path.is_dir()


def runtime_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every absolute import outside `if TYPE_CHECKING:` blocks."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from genlab import errors` imports the module genlab.errors
            names = [f"{node.module}.{a.name}" for a in node.names]
            modules = [n for n in names if is_module(n)]
            found.extend((node.lineno, m) for m in modules or [node.module])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def upward_imports(importer: str, tree: ast.AST) -> list[str]:
    """The imports of module `importer` (parsed as `tree`) that break the rule."""
    found = []
    mine = layer(importer)
    for line, imported in runtime_imports(tree):
        theirs = layer(imported)
        if theirs is None or mine is None:
            continue
        if RANKS[theirs] < RANKS[mine]:
            found.append(f"{importer}:{line} ({mine}) imports {imported} ({theirs}), above it")
    return found


def violations() -> list[str]:
    paths = sorted((SRC / "genlab").rglob("*.py")) + sorted((SRC / "hydra_plugins").rglob("*.py"))
    found = []
    for path in paths:
        found += upward_imports(module_name(path), ast.parse(path.read_text(), str(path)))
    return found


def test_imports_run_one_way() -> None:
    assert violations() == []


def test_the_rule_sees_an_upward_import() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import torch\n"
        "from genlab.run.build import build\n"
        "from genlab import errors, CONF_DIR\n"
        "if TYPE_CHECKING:\n"
        "    from genlab.train import train\n"
        "def f():\n"
        "    from genlab.train import main\n"
    )
    imported = [module for _, module in runtime_imports(tree)]
    assert imported == ["typing", "torch", "genlab.run.build", "genlab.errors", "genlab.train"]
    assert [layer(m) for m in imported] == [None, None, "run", "base", "entry"]
    assert RANKS["entry"] < RANKS["run"] < RANKS["callbacks"] < RANKS["models"] < RANKS["nets"]
    assert layer("hydra_plugins.genlab_members_launcher.members_launcher") == "entry"
    assert layer("genlab.nets.members") == "nets" and layer("genlab") == "base"
    upward = "from genlab.models.base import GenerativeModel\nfrom genlab.run import build\n"
    assert upward_imports("genlab.models.gan", ast.parse(upward)) == [
        "genlab.models.gan:2 (models) imports genlab.run.build (run), above it"
    ]
    assert upward_imports("genlab.nets.mlp", ast.parse("import genlab.train")) == [
        "genlab.nets.mlp:1 (nets) imports genlab.train (entry), above it"
    ]
    assert upward_imports("genlab.run.build", ast.parse("from genlab.nets import mlp")) == []
