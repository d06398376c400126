"""Shared fixtures. Tests import the installed fastlb (tests/ is not a package, so the source tree's
fastlb/ does not shadow the built one)."""
from __future__ import annotations

import os
import shutil
import sys

import pytest

# Subprocesses started by the tests (python -m fastlb, python -c ...) run from the repository
# root: without this, the source tree's fastlb/ (no compiled modules when the package was
# installed with `pip install .`) would shadow the installed package.
os.environ["PYTHONSAFEPATH"] = "1"

SEED_DIR = os.environ.get(
    "FASTLB_SEED_DIR",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "seed"),
)


def fastlb_cmd() -> list[str]:
    """How to start the fastlb command line of the Python running the tests."""
    return [sys.executable, "-m", "fastlb"]


@pytest.fixture
def fastlb() -> list[str]:
    return fastlb_cmd()


def require_binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        pytest.skip(f"{name} is not installed (apt-get install {name}); .ci/run installs it")
    return path
