"""The dependency direction holds: domain and learning are pure; services import no I/O library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "driftloop"
IO_LIBRARIES = {
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "driftpy",
    "httpx",
    "typer",
    "rich",
}
FORBIDDEN = {
    "domain": IO_LIBRARIES
    | {
        "numpy",
        "pydantic",
        "driftloop.adapters",
        "driftloop.services",
        "driftloop.entrypoints",
        "driftloop.learning",
    },
    "learning": IO_LIBRARIES | {"driftloop.adapters", "driftloop.services", "driftloop.entrypoints"},
    "services": IO_LIBRARIES | {"driftloop.adapters", "driftloop.entrypoints"},
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_it_must_not(layer: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for module in imported_modules(path):
            if any(module == banned or module.startswith(banned + ".") for banned in FORBIDDEN[layer]):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not offenders, "\n".join(offenders)
