"""Paths to the data and the Rust command-line tools the tests compare against.

scripts/test.sh sets them; a missing one fails with how to get it (never a silent skip).
"""

import os
import pathlib
import subprocess
import json

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _dir(var: str, default: pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(os.environ.get(var, default))
    if not path.is_dir():
        pytest.fail(f"missing data folder {path}: set {var} (scripts/test.sh does)")
    return path


@pytest.fixture(scope="session")
def events_dir() -> pathlib.Path:
    return _dir("SDT_EVENTS_DIR", REPO.parent / "shared" / "events")


@pytest.fixture(scope="session")
def golden_dir() -> pathlib.Path:
    return _dir("SDT_GOLDEN_DIR", REPO.parent / "shared" / "golden")


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    return REPO / "examples" / "data"


def _tool(name: str) -> pathlib.Path:
    path = pathlib.Path(os.environ.get("SDT_BIN_DIR", REPO / "target" / "release")) / name
    if not path.is_file():
        pytest.fail(f"{path} missing: build it with `cargo build --release -p {name}`")
    return path


@pytest.fixture(scope="session")
def cli():
    """Runs a Rust CLI (sdt-convert, sdt-dvs) and returns its parsed JSON output."""

    def run(tool: str, *args) -> dict:
        out = subprocess.run([str(_tool(tool)), *map(str, args)], check=True,
                             capture_output=True, text=True)
        return json.loads(out.stdout)

    return run


@pytest.fixture(scope="session")
def cli_raw():
    def run(tool: str, *args) -> subprocess.CompletedProcess:
        return subprocess.run([str(_tool(tool)), *map(str, args)], check=True,
                              capture_output=True, text=True)

    return run
