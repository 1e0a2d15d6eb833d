"""The layers of DESIGN.md, checked on the source: what each layer may import, and how long a function may be."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
DOMAIN = FUNCTIONS / "domain"
# What the pure domain never imports: SDKs, Powertools, the environment, the clock, threads, I/O, outer layers.
DOMAIN_FORBIDDEN = (
    "boto3",
    "botocore",
    "aws_lambda_powertools",
    "mcp",
    "httpx",
    "urllib3",
    "os",
    "time",
    "threading",
    "socket",
    "subprocess",
    "functions.adapters",
    "functions.app",
    "functions.handlers",
    "functions.shared",
    "local",
)
MAX_FUNCTION_LINES = 60


def modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def test_the_domain_has_modules_to_check():
    assert len(modules(DOMAIN)) >= 20


@pytest.mark.parametrize("path", modules(DOMAIN), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_domain_module_imports_no_sdk_no_environment_no_clock_and_no_outer_layer(path):
    bad = [name for name in imported(path) for forbidden in DOMAIN_FORBIDDEN if under(name, forbidden)]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize(
    ("layer", "outer"),
    [("adapters", ("functions.app", "functions.handlers")), ("app", ("functions.handlers",))],
)
def test_inner_layers_never_import_outer_ones(layer, outer):
    checked = modules(FUNCTIONS / layer)
    assert checked
    bad = [
        f"{p.relative_to(ROOT)}: {name}" for p in checked for name in imported(p) if any(under(name, o) for o in outer)
    ]
    assert not bad, bad


def test_nothing_the_lambdas_ship_imports_the_local_stack():
    checked = modules(FUNCTIONS)
    assert len(checked) > 50
    bad = [f"{p.relative_to(ROOT)}: {n}" for p in checked for n in imported(p) if under(n, "local")]
    assert not bad, bad


def _long_functions(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)"


def test_no_function_outside_the_tests_is_longer_than_a_screen():
    checked = [p for top in ("functions", "stacks", "cli", "local", "bench") for p in modules(ROOT / top)]
    checked.append(ROOT / "app.py")
    assert len(checked) > 100
    long = [entry for path in checked for entry in _long_functions(path)]
    assert not long, long
