"""The build's promises: a missing compiler is reported with what to install; the sanitizer
build (FASTLB_SANITIZE=1) is what it says and the parser tests pass under it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from buildlib import (
    ROOT,
    compiler_path,
    copy_source,
    need_compiler,
    only_wheel,
    pip_wheel,
    unavailable,
    unpack_wheel,
)


def test_missing_compiler_says_what_to_install(tmp_path):
    src = copy_source(tmp_path / "src")
    env = dict(os.environ, CC="/nonexistent/cc")
    p = pip_wheel(src, tmp_path / "dist", env=env, timeout=600)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "fastlb must compile its C and Cython modules" in out
    assert "apt-get install build-essential python3-dev" in out


def sanitizer_runtime() -> list[str]:
    """The gcc ASan and UBSan runtimes to preload into a Python that was not built with them."""
    cc = compiler_path()
    if cc is None:
        need_compiler()
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        path = subprocess.run([cc, f"-print-file-name={name}"], capture_output=True, text=True,
                              check=False).stdout.strip()
        if not os.path.isabs(path) or not os.path.exists(path):
            unavailable(f"{name} is not installed (apt-get install gcc: libasan8, libubsan1)")
        libs.append(path)
    return libs


@pytest.mark.slow
def test_parser_tests_pass_under_asan_and_ubsan(tmp_path):
    """Build the parser's two modules (cffi and Cython) with FASTLB_SANITIZE=1, check that they
    are instrumented, then run the corpus and chunked tests with the sanitizer runtimes loaded:
    any report fails the run (halt_on_error)."""
    preload = sanitizer_runtime()
    src = copy_source(tmp_path / "src", keep_pyx={"fastlb/_fastpath.pyx"})
    p = pip_wheel(src, tmp_path / "dist", env=dict(os.environ, FASTLB_SANITIZE="1"))
    assert p.returncode == 0, p.stdout + p.stderr
    site = unpack_wheel(only_wheel(tmp_path / "dist"), tmp_path / "site")
    sos = sorted(site.glob("fastlb/*.so"))
    assert {s.name.split(".")[0] for s in sos} == {"_fastpath", "_http1_cffi"}
    for so in sos:
        assert b"libasan.so" in so.read_bytes(), f"{so.name} is not linked with ASan"
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONSAFEPATH="1", LD_PRELOAD=" ".join(preload),
               ASAN_OPTIONS="detect_leaks=0:halt_on_error=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    check = subprocess.run([sys.executable, "-c", "import fastlb.http1 as h; print(h.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().startswith(str(site))
    # -vv reports the flag recorded in the modules at build time; this environment has no FASTLB_SANITIZE
    env.pop("FASTLB_SANITIZE", None)
    vv = subprocess.run([sys.executable, "-m", "fastlb", "-vv"], capture_output=True, text=True, env=env,
                        cwd=tmp_path, timeout=60, check=False)
    assert vv.returncode == 0, vv.stderr
    assert "  sanitizers: ASan+UBSan (built with FASTLB_SANITIZE=1)\n" in vv.stdout
    tests = [str(ROOT / "tests" / "parser" / name) for name in ("test_corpus.py", "test_chunked.py")]
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False)
    out = run.stdout + run.stderr
    assert "ERROR: AddressSanitizer" not in out and "runtime error:" not in out, out[-4000:]
    assert run.returncode == 0, out[-4000:]
    assert " passed" in run.stdout
