"""Broadcasts and schedules keep to the layers: their routes and pages only translate HTTP and call services."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROUTES = ["api/routes/broadcasts.py", "api/routes/schedules.py"]
PAGES = ["api/web/schedules.py", "api/web/send.py"]
SERVICES = ["services/broadcasts.py", "services/schedules.py"]


def _imported(path: str) -> set[str]:
    """Every module the file imports, `from a import b` counted as both `a` and `a.b`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _under(names: set[str], *packages: str) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(f"{p}.") for p in packages))


def test_broadcast_and_schedule_routes_import_no_route_module() -> None:
    found = {path: _under(_imported(path), "api.routes") for path in ROUTES}
    assert not any(found.values()), found


def test_the_schedules_page_and_the_broadcast_form_import_no_broadcast_or_schedule_route() -> None:
    found = {path: _under(_imported(path), "api.routes.broadcasts", "api.routes.schedules") for path in PAGES}
    found["api/web/schedules.py"] += _under(_imported("api/web/schedules.py"), "api.routes")
    assert not any(found.values()), found


def test_the_services_import_nothing_of_http_activities_or_workflows() -> None:
    found = {path: _under(_imported(path), "api", "fastapi", "starlette", "activities", "workflows", "worker")
             for path in SERVICES}
    assert not any(found.values()), found


def test_the_fire_activity_uses_services_not_routes_or_core_use_cases() -> None:
    imported = _imported("activities/schedules.py") | _imported("activities/broadcast.py")
    assert not _under(imported, "api"), imported
    assert not (ROOT / "core" / "broadcasting.py").exists() and not (ROOT / "core" / "scheduling.py").exists()
