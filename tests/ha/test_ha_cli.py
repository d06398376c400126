"""The command lines: ``fastlb-ha`` and ``fastlb ha`` (no root needed: unicast instances name no interface)."""
from __future__ import annotations

import subprocess
import sys

UNICAST = """
vrrp_instance U {
    virtual_router_id 42
    priority 120
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.2
    }
    virtual_ipaddress {
        192.0.2.10/24
    }
}
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=30, check=False)


def test_config_test_through_both_commands(tmp_path):
    good = tmp_path / "good.conf"
    good.write_text(UNICAST)
    assert run("fastlb.ha.cli", "-t", "-f", str(good)).returncode == 0
    via_fastlb = run("fastlb", "ha", "-t", "-f", str(good))
    assert via_fastlb.returncode == 0 and via_fastlb.stderr == ""
    bad = tmp_path / "bad.conf"
    bad.write_text(UNICAST.replace("priority 120", "priority 300\n    frobnicate"))
    result = run("fastlb", "ha", "-t", "-f", str(bad))
    assert result.returncode == 5
    assert "(bad.conf: Line 4) number '300' outside range [1, 255]" in result.stderr.replace(str(tmp_path) + "/", "")
    assert "Unknown keyword 'frobnicate'" in result.stderr
    missing = run("fastlb.ha.cli", "-t", "-f", str(tmp_path / "nope.conf"))
    assert missing.returncode == 4


def test_version_and_refused_subsystem():
    out = run("fastlb.ha.cli", "-v")
    assert out.returncode == 0 and "keepalived 2.2.7 configuration language" in out.stdout
    refused = run("fastlb.ha.cli", "-C", "-f", "/nonexistent")
    assert refused.returncode == 4 and "not implemented" in refused.stderr
