"""The build's promises: a missing compiler is reported with what to install."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "setup.py")), reason="needs the source tree")
def test_missing_compiler_says_what_to_install(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "build", "*.so", "*.egg-info", ".venv",
                                                              "__pycache__", ".pytest_cache", ".hypothesis"))
    env = dict(os.environ, CC="/nonexistent/cc", PIP_DISABLE_PIP_VERSION_CHECK="1")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(src)],
                       capture_output=True, text=True, env=env, timeout=600)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "fastlb must compile its C and Cython modules" in out
    assert "apt-get install build-essential python3-dev" in out
