"""
The package's dependency rule (docs/ARCHITECTURE.md): its subsystems are layers, and a module
imports only from its own layer or lower ones; modules import each other without cycles; the
tagger uses the speed package through one hook.
"""
import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "taglm_plugin"
# Lowest first. The package's own `__init__` and `process_setup` sit above them all.
LAYERS = ["common", "training", "speed", "lm", "bilm", "tagging", "study", "commands"]
TOP = len(LAYERS)
# The modules outside `speed` that may import from it, and what.
SPEED_HOOKS = {
    "taglm_plugin.tagging.taglm_tagger": {"taglm_plugin.speed.tagger_fast_paths"},
    "taglm_plugin.tagging.taglm_tagger_predictor": {"taglm_plugin.speed.prediction_workers"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = REPO_ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> Set[str]:
    """The package's modules that `path` imports, anywhere in it (functions included)."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module_name(path if path.name == "__init__.py" else path.parent)
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [
                f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base
                for alias in node.names
            ]
        else:
            continue
        imported.update(name for name in names if name.split(".")[0] == "taglm_plugin")
    return imported


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else TOP


@pytest.fixture(scope="module")
def graph() -> Dict[str, Set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def test_every_subpackage_is_a_layer(graph):
    subpackages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert subpackages == set(LAYERS)


def test_no_module_imports_from_a_higher_layer(graph):
    upward = sorted(
        f"{module} ({LAYERS[layer(module)] if layer(module) < TOP else 'top'}) imports "
        f"{target} ({LAYERS[layer(target)] if layer(target) < TOP else 'top'})"
        for module, targets in graph.items()
        for target in targets
        if layer(target) > layer(module)
    )
    assert upward == []


def test_modules_import_each_other_without_cycles(graph):
    # A package's `__init__` importing its own modules is how registration works; those
    # edges alone cannot close a cycle unless a module imports its package back.
    cycles: List[List[str]] = []
    state: Dict[str, str] = {}

    def visit(module: str, path: List[str]) -> None:
        state[module] = "visiting"
        for target in sorted(graph.get(module, ())):
            if target == module:
                continue
            if state.get(target) == "visiting":
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_only_the_tagger_hook_imports_the_speed_package(graph):
    users = {
        module: {target for target in targets if target.startswith("taglm_plugin.speed")}
        for module, targets in graph.items()
        if module.split(".")[1:2] != ["speed"] and layer(module) < TOP
    }
    assert {module: targets for module, targets in users.items() if targets} == SPEED_HOOKS


def test_the_checks_see_an_upward_import(tmp_path):
    # The rule's own check: a module of `lm` importing the tagger is found.
    source = tmp_path / "probe.py"
    source.write_text("from taglm_plugin.tagging import taglm_tagger\nimport taglm_plugin.lm\n")
    assert imports_of(source) >= {"taglm_plugin.tagging.taglm_tagger", "taglm_plugin.lm"}
    assert layer("taglm_plugin.tagging.taglm_tagger") > layer("taglm_plugin.lm.language_model")
