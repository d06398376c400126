"""Facts about this build of fastlb: what ``-vv`` prints and what ``feature()`` answers."""
from __future__ import annotations

import importlib
import os
import platform
import sys

#: Native modules of the package, and what each one is for. A module that fails to import is
#: reported as missing by ``-vv`` (the package then runs without it only where a fallback exists).
NATIVE_MODULES: dict[str, str] = {
    "fastlb._http1_cffi": "HTTP/1 parser, cffi binding",
    "fastlb._fastpath": "HTTP/1 parser, Cython hot-path binding",
    "fastlb._lb": "hashing and server maps",
    "fastlb._stk": "stick tables",
    "fastlb.engine._proxy": "proxy data plane",
    "fastlb.engine._shm": "shared memory of the master",
}


def native_status() -> dict[str, bool]:
    status = {}
    for name in NATIVE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            status[name] = False
        else:
            status[name] = True
    return status


def splice_available() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "splice")


def simd_levels() -> dict[str, str]:
    """Scanning path of each compiled copy of the HTTP parser (each module links its own)."""
    levels = {}
    for name in ("fastlb._http1_cffi", "fastlb._fastpath", "fastlb.engine._proxy"):
        try:
            if name == "fastlb._http1_cffi":
                from .http1 import simd_level as level
            else:
                level = importlib.import_module(name).simd_level
        except ImportError:
            continue
        levels[name] = level()
    return levels


def simd_level() -> str:
    """Which scanning path the HTTP parser uses in this process ('avx2', 'sse4.2', 'scalar'); all
    copies choose alike (CPUID, FASTLB_SIMD), and a disagreement is shown module by module."""
    levels = simd_levels()
    if not levels:
        return "unavailable (parser not built)"
    if len(set(levels.values())) == 1:
        return next(iter(levels.values()))
    return ", ".join(f"{level} in {name}" for name, level in levels.items())


_SANITIZER_NAMES = {"address": "ASan", "undefined": "UBSan"}


def sanitizers() -> str:
    """How the native modules were compiled (recorded at build time in the parser)."""
    try:
        from .http1 import build_sanitizers
    except ImportError:
        return "unknown (parser not built)"
    names = build_sanitizers()
    if not names:
        return "off"
    return "+".join(_SANITIZER_NAMES.get(n, n) for n in names) + " (built with FASTLB_SANITIZE=1)"


def features() -> dict[str, bool]:
    """Build features under HAProxy's names, as ``feature(NAME)`` and ``-vv`` see them."""
    linux = sys.platform.startswith("linux")
    return {
        "EPOLL": linux,
        "LINUX_SPLICE": splice_available(),
        "REGEX": True,  # Python's re engine
        "PCRE": False,
        "PCRE2": False,
        "OPENSSL": False,  # no TLS termination yet
        "LUA": False,
        "ZLIB": False,
        "SLZ": False,
        "PROMEX": True,
        "TPROXY": False,
        "NS": linux,
        "THREAD": False,  # nbthread maps to worker processes, not threads
        "CPU_AFFINITY": linux,
        "GETADDRINFO": True,
        "SYSTEMD": True,
    }


def build_facts() -> list[str]:
    try:
        import uvloop

        uvloop_version = uvloop.__version__
    except ImportError:
        uvloop_version = "not installed"
    try:
        import cffi

        cffi_version = cffi.__version__
    except ImportError:
        cffi_version = "not installed"
    lines = [
        "Build options :",
        f"  Python: {platform.python_implementation()} {platform.python_version()} on {platform.machine()}",
        f"  uvloop: {uvloop_version}",
        f"  cffi: {cffi_version}",
        f"  sanitizers: {sanitizers()}",
        "",
        "Native modules :",
    ]
    for name, ok in native_status().items():
        lines.append(f"  {name:<24} {'compiled' if ok else 'MISSING'}  ({NATIVE_MODULES[name]})")
    lines += [
        "",
        f"HTTP parser SIMD level : {simd_level()}",
        f"splice() : {'available' if splice_available() else 'not available (recv/send fallback)'}",
        "",
        "Feature list : " + " ".join(("+" if on else "-") + name for name, on in features().items()),
    ]
    return lines
