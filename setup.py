"""Build script for fastlb's native parts.

Every ``fastlb/**/*.pyx`` is compiled as a Cython extension (a module lists the C files of
``csrc/`` it needs with a ``# distutils: sources = ...`` line), and every
``fastlb/**/*_cffi_build.py`` provides an ``ffibuilder`` for a cffi API-mode module.

Environment:
  FASTLB_SANITIZE=1   build all C and Cython code with ASan + UBSan (for tests and fuzzing)
  FASTLB_DEBUG=1      -O0 -g, Cython line tracing off
"""
from __future__ import annotations

import glob
import os
import sys
import sysconfig
import tempfile

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
SANITIZE = os.environ.get("FASTLB_SANITIZE", "") not in ("", "0")
DEBUG = os.environ.get("FASTLB_DEBUG", "") not in ("", "0")

MISSING_TOOLCHAIN = """
fastlb must compile its C and Cython modules, and the compiler test failed:
  {reason}
Install a C compiler and the Python headers, then retry:
  Debian/Ubuntu:  apt-get install build-essential python3-dev
  Fedora/RHEL:    dnf install gcc python3-devel
  Alpine:         apk add build-base python3-dev
"""


def native_flags() -> tuple[list[str], list[str]]:
    cflags = ["-std=gnu11", "-Wall", "-Wno-unused-function", "-fno-strict-aliasing"]
    ldflags: list[str] = []
    if DEBUG:
        cflags += ["-O0", "-g"]
    else:
        cflags += ["-O3"]
    if SANITIZE:
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
        # -fno-wrapv: Python's CFLAGS carry -fwrapv, which makes signed overflow defined and so
        # invisible to UBSan; our C must not depend on wrapping. FL_HTTP_SANITIZERS is recorded in
        # the modules: `fastlb -vv` reports how they were built, not the environment.
        cflags += san + ["-fno-wrapv", "-O1", '-DFL_HTTP_SANITIZERS="address,undefined"']
        ldflags += san
    return cflags, ldflags


class FastlbBuildExt(build_ext):
    """build_ext that checks the toolchain first and applies the project's flags to every
    extension, Cython and cffi alike."""

    def build_extensions(self) -> None:
        self._check_toolchain()
        cflags, ldflags = native_flags()
        for ext in self.extensions:
            ext.include_dirs = list(dict.fromkeys([os.path.join(HERE, "csrc"), *ext.include_dirs]))
            # C++-only warnings flags would break C files; keep to C flags here.
            ext.extra_compile_args = list(ext.extra_compile_args or []) + cflags
            ext.extra_link_args = list(ext.extra_link_args or []) + ldflags
        super().build_extensions()

    def _check_toolchain(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write("#include <Python.h>\nint fl_probe(void) { return PY_MAJOR_VERSION; }\n")
            try:
                self.compiler.compile([src], output_dir=tmp, include_dirs=[sysconfig.get_paths()["include"]])
            except Exception as exc:  # noqa: BLE001 - distutils error classes vary between setuptools versions
                sys.stderr.write(MISSING_TOOLCHAIN.format(reason=str(exc).strip() or type(exc).__name__))
                raise SystemExit(1) from None


def cython_extensions() -> list:
    pyx = sorted(glob.glob("fastlb/**/*.pyx", recursive=True))
    if not pyx:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.stderr.write("fastlb needs Cython to build: pip install cython (pip does it for you with "
                         "`pip install .` because pyproject.toml lists it)\n")
        raise SystemExit(1) from None
    directives = {
        "language_level": 3,
        "boundscheck": False,
        "wraparound": False,
        "cdivision": True,
        "initializedcheck": False,
        "embedsignature": True,
    }
    return cythonize(pyx, compiler_directives=directives, include_path=["fastlb", "csrc"], quiet=True)


def cffi_modules() -> list[str]:
    return [f"{path}:ffibuilder" for path in sorted(glob.glob("fastlb/**/*_cffi_build.py", recursive=True))]


setup(
    ext_modules=cython_extensions(),
    cffi_modules=cffi_modules(),
    cmdclass={"build_ext": FastlbBuildExt},
    package_data={"fastlb": ["*.pxd", "**/*.pxd", "data/*"]},
    zip_safe=False,
)
