"""No dict row crosses store/'s boundary: every public function of every store module returns a typed record
(a frozen dataclass of store/records.py's kind) or a plain value, never a dict, an asyncpg Record or `Any`, so
mypy checks each field its readers use. A JSON payload inside a record may stay a dict; only what a function
returns is checked."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from types import ModuleType

import store

# Connection plumbing, the migration runner, the row-to-record helpers and the page cursor hand back no rows.
NOT_ROW_MODULES = {"db", "migrate", "records", "pagination", "migrations"}

# `dict[str, Any]`, an asyncpg `Record`, `Any` anywhere, or a bare `dict` (`list[dict]`, `dict | None`): each
# lets a row's columns through unchecked. `dict[str, int]` of plain values stays allowed.
ROW_LEAK = re.compile(r"dict\[str, Any\]|\bRecord\b|\bAny\b|\bdict\b(?!\[)")


def row_modules() -> list[ModuleType]:
    names = [info.name for info in pkgutil.iter_modules(store.__path__) if info.name not in NOT_ROW_MODULES]
    return [importlib.import_module(f"store.{name}") for name in sorted(names)]


def public_functions(module: ModuleType) -> dict[str, object]:
    """The module's own public functions, and the public methods of its own classes (`InboxFeed.subscribe`)."""
    found: dict[str, object] = {}
    for name, member in vars(module).items():
        if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(member):
            found[name] = member
        elif inspect.isclass(member):
            found |= {f"{name}.{method}": function for method, function in vars(member).items()
                      if not method.startswith("_") and inspect.isfunction(function)}
    return found


def test_every_store_module_is_checked() -> None:
    checked = {module.__name__ for module in row_modules()}
    assert {"store.notifications", "store.users", "store.templates", "store.broadcasts"} <= checked
    assert all(public_functions(module) for module in row_modules()), "each row module has functions"


def test_no_public_store_function_returns_a_row_as_a_dict() -> None:
    leaks = []
    for module in row_modules():
        for name, function in public_functions(module).items():
            annotation = inspect.signature(function).return_annotation  # type: ignore[arg-type]
            if annotation is inspect.Signature.empty:
                leaks.append(f"{module.__name__}.{name} (no return annotation)")
            elif ROW_LEAK.search(str(annotation)):
                leaks.append(f"{module.__name__}.{name} -> {annotation}")
    assert not leaks, "store functions that return untyped rows:\n" + "\n".join(leaks)


def test_every_record_is_frozen() -> None:
    records = [value for module in row_modules() for value in vars(module).values()
               if isinstance(value, type) and dataclasses.is_dataclass(value)
               and value.__module__ == module.__name__]
    assert len(records) > 10, "the row modules define their records"
    thawed = [record.__qualname__ for record in records
              if not record.__dataclass_params__.frozen]  # type: ignore[attr-defined]
    assert not thawed, f"records that can be changed after they were read: {thawed}"
