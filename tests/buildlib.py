"""Helpers of the build tests: copy the source tree, build a wheel from it with pip (build
isolation, as users build), install a wheel into a directory or a fresh venv."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: pip's messages when the build requirements cannot be fetched (no network, no index)
_OFFLINE = re.compile(r"No matching distribution found|Could not find a version that satisfies|"
                      r"Failed to establish a new connection|Temporary failure in name resolution|"
                      r"Network is unreachable|ProxyError|Max retries exceeded")


def unavailable(reason: str) -> None:
    """Skip a build test whose tool or network is missing, with the reason; under .ci/run
    (FASTLB_CI=1, which installs gcc and has the network) the same lack is a failure."""
    if os.environ.get("FASTLB_CI") == "1":
        pytest.fail(f"{reason} (FASTLB_CI=1: CI must run this test)")
    pytest.skip(reason)


def offline(output: str) -> bool:
    return _OFFLINE.search(output) is not None


def need_compiler() -> None:
    if compiler_path() is None:
        unavailable("no C compiler (apt-get install build-essential python3-dev); .ci/run installs it")


def need_source_tree() -> None:
    if not (ROOT / "setup.py").exists():
        pytest.skip("needs the source tree")


def copy_source(dst: Path, keep_pyx: set[str] | None = None) -> Path:
    """Copy what a build needs (not .git, build products or the tests). `keep_pyx` (paths
    relative to the root) keeps only those Cython modules, for a quicker partial build."""
    need_source_tree()
    dst.mkdir(parents=True)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dst / name)
    ignore = shutil.ignore_patterns("*.so", "*.o", "__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "csrc", dst / "csrc", ignore=ignore)
    shutil.copytree(ROOT / "fastlb", dst / "fastlb", ignore=ignore)
    if keep_pyx is not None:
        for pyx in (dst / "fastlb").rglob("*.pyx"):
            if str(pyx.relative_to(dst)) not in keep_pyx:
                pyx.unlink()
    return dst


def pip_wheel(src: Path, out: Path, env: dict[str, str] | None = None, timeout: float = 900) -> \
        subprocess.CompletedProcess:
    """`pip wheel --no-deps src -w out`; skips the test when the build requirements cannot be
    downloaded (offline machine without a local index)."""
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                       capture_output=True, text=True, env=dict(os.environ if env is None else env,
                                                                PIP_DISABLE_PIP_VERSION_CHECK="1"),
                       timeout=timeout, check=False)
    if p.returncode != 0 and _OFFLINE.search(p.stdout + p.stderr) and "fastlb must compile" not in p.stderr:
        unavailable("the build requirements (setuptools, cython, cffi) cannot be downloaded here")
    return p


def only_wheel(out: Path) -> Path:
    wheels = sorted(out.glob("fastlb-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def unpack_wheel(wheel: Path, dst: Path) -> Path:
    """A wheel's files in a directory usable on PYTHONPATH (what an install puts in site-packages)."""
    with zipfile.ZipFile(wheel) as z:
        z.extractall(dst)
    return dst


def compiler_path() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def fresh_venv(path: Path) -> Path:
    """A new virtual environment (with pip) for the Python running the tests; returns its bin/."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True, timeout=300)
    return path / "bin"


def no_compiler_env(bindir: Path) -> dict[str, str]:
    """An environment whose PATH holds only the venv's bin/ (no gcc, cc, ld) and whose CC is
    /bin/false, so that nothing run in it can compile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CC", "CFLAGS"))}
    env.update(PATH=str(bindir), CC="/bin/false", LDSHARED="/bin/false", VIRTUAL_ENV=str(bindir.parent),
               PYTHONSAFEPATH="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    for tool in ("gcc", "cc", "c99", "clang", "ld"):
        assert shutil.which(tool, path=env["PATH"]) is None, f"{tool} is reachable"
    return env
