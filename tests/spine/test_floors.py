"""The floors of STYLE.md, read from the source: lower layers never import higher ones.

Every `import` counts, also one inside a function: a hidden import that climbs
says a piece lives on the wrong floor.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "tlkeras"
# Floor of each top-level module or package of tlkeras (STYLE.md, "Floors").
FLOORS = {
    **dict.fromkeys(
        (
            "errors",
            "layers",
            "heads",
            "weights",
            "precision",
            "distribution",
            "saving",
            "data",
            "inputs",
            "native_logs",
        ),
        0,
    ),
    **dict.fromkeys(("backbones", "registry"), 1),
    **dict.fromkeys(
        (
            "transfer_model",
            "strategies",
            "optimizers",
            "callbacks",
            "feature_cache",
            "data_checks",
            "step_guard",
            "batchnorm_statistics",
        ),
        2,
    ),
    **dict.fromkeys(("domain", "pretrain", "text"), 3),
    **dict.fromkeys(("evaluation", "analysis", "ranking"), 4),
    **dict.fromkeys(
        ("builder", "recipes", "cli", "testing", "serving", "serving_tokenizers", "__init__"), 5
    ),
}
TOP_FLOOR = 5


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(path):
    """(line, module) of every tlkeras import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tlkeras"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.append((node.lineno, submodule if submodule in MODULES else node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("tlkeras")]
    return found


def _floor(module):
    parts = module.split(".")
    return FLOORS[parts[1] if len(parts) > 1 else "__init__"]


def test_every_module_has_a_floor():
    unknown = sorted({m.split(".")[1] for m in MODULES if "." in m} - set(FLOORS))
    assert not unknown, f"Give these a floor in FLOORS (and STYLE.md): {unknown}"


@pytest.mark.parametrize("floor", [0, 1, 2])
def test_lower_floors_never_climb(floor):
    climbs = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
        for module, path in MODULES.items()
        if "." in module and _floor(module) == floor
        for line, target in _imports(path)
        if _floor(target) > floor
    ]
    assert not climbs, "\n".join(climbs)


def test_training_recipes_never_import_the_top_floor():
    # domain/, pretrain/, text/ resolve backbone names through
    # tlkeras.backbones.lookup, not tlkeras.builder.
    climbs = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
        for module, path in MODULES.items()
        if "." in module and _floor(module) == 3
        for line, target in _imports(path)
        if _floor(target) == TOP_FLOOR
    ]
    assert not climbs, "\n".join(climbs)


def test_no_two_modules_import_each_other():
    graph = {module: {t for _, t in _imports(path)} for module, path in MODULES.items()}
    loops = sorted(
        f"{a} <-> {b}"
        for a, targets in graph.items()
        for b in targets
        if a < b
        and a in graph.get(b, ())
        # A package's __init__ re-exporting its own submodules is no loop.
        and not b.startswith(f"{a}.")
        and a != "tlkeras"
    )
    assert not loops, "\n".join(loops)


def test_auto_learning_rates_have_one_home():
    homes = [
        str(path.relative_to(PACKAGE.parent))
        for path in MODULES.values()
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if getattr(target, "id", None) in ("HEAD_LEARNING_RATE", "FINE_TUNE_LEARNING_RATE")
    ]
    assert homes == ["tlkeras/optimizers.py", "tlkeras/optimizers.py"], homes
