"""The layering rule (docs/architecture.md, "Layers") holds: `lint-imports` keeps every contract of
.importlinter, and those contracts look at every package that ships."""

from __future__ import annotations

import configparser
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def contracts() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return config


def test_every_import_keeps_to_the_layers() -> None:
    # --no-cache: a run reads the tree as it is now and leaves no cache behind in it.
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--no-logo"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"an import breaks the layering rule:\n{done.stdout}\n{done.stderr}"
    assert "Contracts: " in done.stdout, done.stdout  # it read the contracts and checked them


def test_the_contracts_cover_every_shipped_package() -> None:
    """A new top-level package would otherwise stand outside every contract."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = {p.split(".")[0] for p in pyproject["tool"]["setuptools"]["packages"]}
    checked = set(contracts()["importlinter"]["root_packages"].split())
    assert shipped == checked
    layers = {name.strip() for line in contracts()["importlinter:contract:layers"]["layers"].split("\n")
              for name in line.split("|") if name.strip()}
    assert layers == checked, "every package has its place in the layers"
