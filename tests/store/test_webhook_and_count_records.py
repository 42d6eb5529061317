"""No dict row leaves the status-webhook and count stores: every function of store/webhooks.py,
store/dashboard.py and store/tally.py returns typed records (frozen dataclasses) or plain values, so mypy
checks each field its readers use."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from types import ModuleType

import pytest

from store import dashboard, tally, webhooks


def returns(module: ModuleType) -> dict[str, str]:
    """Each function's return annotation, as written."""
    tree = ast.parse(Path(str(module.__file__)).read_text())
    return {node.name: ast.unparse(node.returns) for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None}


@pytest.mark.parametrize("module", [webhooks, dashboard, tally], ids=lambda m: m.__name__)
def test_no_function_returns_a_dict(module: ModuleType) -> None:
    found = returns(module)
    assert found, "the module has typed functions"
    leaks = {name: annotation for name, annotation in found.items() if "dict" in annotation.lower()}
    assert not leaks, f"{module.__name__} returns dict rows: {leaks}"


@pytest.mark.parametrize("module", [webhooks, dashboard, tally], ids=lambda m: m.__name__)
def test_every_record_is_frozen(module: ModuleType) -> None:
    records = [v for v in vars(module).values()
               if isinstance(v, type) and dataclasses.is_dataclass(v) and v.__module__ == module.__name__]
    assert records
    for record in records:
        params = record.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen, f"{record.__name__} can be changed after it was read"
