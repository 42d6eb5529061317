"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine): check their structure instead,
against the settings the code actually reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_has_the_services_and_their_order() -> None:
    services = compose()["services"]
    assert {"postgres", "temporal-db", "temporal", "temporal-ui", "migrate", "api", "worker"} <= set(services)
    assert services["temporal"]["image"].startswith("temporalio/auto-setup")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui")
    assert services["migrate"]["command"] == ["python", "-m", "store.migrate"]
    for name in ("api", "worker"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["temporal"]["condition"] == "service_healthy"
    assert "ports" not in services["worker"], "workers must scale with --scale worker=N: no fixed ports"


def test_compose_environment_names_settings_the_code_reads() -> None:
    aliases = {field.alias for field in Settings.model_fields.values()}
    for name, service in compose()["services"].items():
        if name in ("api", "worker", "migrate"):
            for key in service["environment"]:
                assert key in aliases, f"{name} sets {key}, which Herald does not read"
    # Several workers sign webhooks: they must share one secret rather than each generating its own.
    assert "HERALD_WEBHOOK_SECRET" in compose()["services"]["worker"]["environment"]
    api = compose()["services"]["api"]
    assert api["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert api["environment"]["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in api[
        "environment"]["DATABASE_URL"]
    assert api["ports"] == [f"{Settings().api_port}:8000"]


def test_the_worker_command_runs_a_worker_module() -> None:
    command = compose()["services"]["worker"]["command"]
    assert command[:2] == ["python", "-m"] and (ROOT / f"{command[2]}.py").exists()


def test_dockerfile_is_multi_stage_non_root_and_copies_every_package() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM ") >= 2 and "USER herald" in text
    packages = {"core", "store", "providers", "activities", "workflows", "api", "devstack"}
    for package in packages:
        assert f"COPY {package} {package}" in text
    assert "COPY worker.py" in text
    pyproject = (ROOT / "pyproject.toml").read_text()
    for package in packages:
        assert f'"{package}"' in pyproject, f"{package} is not packaged, so the image would lack it"
