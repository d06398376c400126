import os
import platform
import subprocess
from pathlib import Path

import pytest

from fastlb.cli import UsageError, parse_args


def test_flags_in_any_order_and_sf_takes_the_rest():
    o = parse_args(["-D", "-f", "a.cfg", "-p", "/run/x.pid", "-f", "conf.d", "-q", "-sf", "12", "34"])
    assert o.daemon and o.quiet
    assert o.config_files == ["a.cfg", "conf.d"]
    assert o.pidfile == "/run/x.pid"
    assert o.finish_pids == [12, 34]


def test_sf_then_more_flags():
    o = parse_args(["-st", "5", "-f", "x.cfg"])
    assert o.terminate_pids == [5]
    assert o.config_files == ["x.cfg"]


def test_double_dash_lists_files():
    assert parse_args(["-c", "--", "a.cfg", "b.cfg"]).config_files == ["a.cfg", "b.cfg"]


@pytest.mark.parametrize("argv", [["-f"], ["-n", "abc"], ["-Z"], ["file.cfg"], ["-sf", "x"]])
def test_bad_command_lines(argv):
    with pytest.raises(UsageError):
        parse_args(argv)


def test_version_names_dialect(fastlb):
    out = subprocess.run([*fastlb, "-v"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("fastlb version ")
    assert "HAProxy 2.6" in out


def source_native_modules() -> set[str]:
    """Every native module the build makes: each .pyx, and each *_cffi_build.py's module."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "setup.py").exists():
        pytest.skip("needs the source tree")
    names = {".".join(p.relative_to(root).with_suffix("").parts) for p in root.glob("fastlb/**/*.pyx")}
    names |= {".".join(p.relative_to(root).parts[:-1] + (p.name[:-len("_build.py")],))
              for p in root.glob("fastlb/**/*_cffi_build.py")}
    return names


def test_vv_reports_build_facts(fastlb):
    import uvloop

    from fastlb import http1

    out = subprocess.run([*fastlb, "-vv"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert f"  Python: {platform.python_implementation()} {platform.python_version()} on {platform.machine()}" \
        in lines
    assert f"  uvloop: {uvloop.__version__}" in lines
    listed = {}
    for line in lines[lines.index("Native modules :") + 1:]:
        if not line.strip():
            break
        name, state = line.split()[:2]
        listed[name] = state
    assert set(listed) == source_native_modules()
    assert set(listed.values()) == {"compiled"}
    # one level for every copy of the parser: the bindings' and the engine's
    assert f"HTTP parser SIMD level : {http1.simd_level()}" in lines
    assert ("splice() : available" if hasattr(os, "splice") else
            "splice() : not available (recv/send fallback)") in lines
    assert "-OPENSSL" in out.split("Feature list :")[1]


def test_unknown_flag_prints_usage_and_fails(fastlb):
    p = subprocess.run([*fastlb, "-Z"], capture_output=True, text=True)
    assert p.returncode == 1
    assert "unknown option '-Z'" in p.stderr and "Usage" in p.stderr


def test_vv_sanitizers_line_is_the_build_not_the_environment(fastlb):
    from fastlb.http1 import build_sanitizers

    expected = "ASan+UBSan (built with FASTLB_SANITIZE=1)" if build_sanitizers() else "off"
    for value in ("1", "0"):
        env = dict(os.environ, FASTLB_SANITIZE=value)
        out = subprocess.run([*fastlb, "-vv"], capture_output=True, text=True, check=True, env=env).stdout
        assert f"  sanitizers: {expected}\n" in out
