"""keepalived.conf reading: the language itself (no machine checks) and ``-t`` against keepalived 2.2.7."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from fastlb.ha.conf_lexer import decomment, split_braces, split_words
from fastlb.ha.conf_model import Severity
from fastlb.ha.conf_parser import parse_config

SEED_DIR = os.environ.get("FASTLB_SEED_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                                                         "seed"))
SEED = os.path.join(SEED_DIR, "keepalived.conf")


def parse_text(tmp_path, text: str, name: str = "k.conf"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return parse_config(str(path), check_system=False)


def texts(config) -> list[str]:
    return [m.text for m in config.messages if m.severity != Severity.DETAIL]


def test_lexer_rules():
    assert decomment('  router_id R2# hmm') == ("router_id R2", False)
    assert decomment('192.168.66.10/24 dev eth0  #VIP    }') == ("192.168.66.10/24 dev eth0", False)
    assert decomment('script "killall -0 x # not a comment"  ! but this') == ('script "killall -0 x # not a comment"',
                                                                              False)
    assert decomment(r'pass a\#b') == ("pass a#b", False)
    assert split_braces("global_defs{") == ["global_defs", "{"]
    assert split_braces("{192.0.2.10/24}") == ["{", "192.0.2.10/24", "}"]
    assert split_braces('notify "a { b" {') == ['notify "a { b"', "{"]
    assert split_words('auth_pass "abc def ghi" x') == (["auth_pass", "abc def ghi", "x"], False)


def test_seed_is_read_as_keepalived_reads_it():
    config = parse_config(SEED, check_system=False)
    assert config.global_defs.router_id == "HAProxy_DEVEL"
    assert config.global_defs.notification_email == ("acassen@firewall.loc", "failover@firewall.loc",
                                                     "sysadmin@firewall.loc")
    assert config.global_defs.smtp_server == ("192.168.200.1", 25)
    assert config.global_defs.smtp_connect_timeout == 30
    (inst,) = config.instances
    assert (inst.name, inst.interface, inst.vrid, inst.priority, inst.advert_int) == ("HAProxy_HA", "eth0", 80, 100, 2)
    assert inst.initial_state == "BACKUP" and inst.nopreempt
    assert inst.auth_type == "PASS" and inst.auth_pass == b"1111\0\0\0\0"
    assert [str(v) for v in inst.vips] == ["192.168.66.10/24 dev eth0"]
    assert [(t.name, t.weight) for t in inst.track_scripts] == [("check_haproxy", 21)]
    # 'notify_master "..." notify_backup "..."' on one line: keepalived takes notify_backup as the user
    # to run notify_master as; no such user, so both are lost. notify_fault stays (with its typo).
    assert inst.notify_master is None and inst.notify_backup is None
    assert inst.notify_fault is not None and inst.notify_fault.argv[-1] == "falut"
    assert not inst.smtp_alert  # keepalived only mails with smtp_alert
    assert "There are 1 missing '}'s or extra '{'s" in texts(config)
    assert config.exit_code == 6  # scripts as root without enable_script_security (as keepalived -t)


def test_errors_and_exit_codes(tmp_path):
    config = parse_text(tmp_path, """
        vrrp_instance X {
          state FOO
          virtual_router_id 300
          priority 0
          advert_int 1.5
          interface eth0
          virtual_ipaddress {
            192.0.2.10/33
            300.1.1.1
            192.0.2.11/24 dev eth0 label eth0:1 foo
          }
          bogus
        }
        }
        """)
    t = texts(config)
    assert "(X) unknown state 'FOO', defaulting to BACKUP" in t
    assert "number '300' outside range [1, 255]" in t
    assert "(X): VRID '300' not valid - must be between 1 & 255" in t
    assert "(X) Priority not valid! must be between 1 & 255. Using default 100" in t
    assert "Invalid address prefix len 33 for address 192.0.2.10/33 - using 32" in t
    assert "VRRP parsed invalid IP 300.1.1.1. skipping IP..." in t
    assert "Unknown configuration entry 'foo' for ip address - ignoring" in t
    assert "Unknown keyword 'bogus'" in t
    assert "Extra '}' found" in t and "Unknown keyword '}'" in t
    assert "(X) the virtual router id must be set" in t
    assert config.instances == () and config.exit_code == 5
    missing = parse_text(tmp_path, "vrrp_script\nvrrp_instance X {\n}\n", "m.conf")
    assert missing.fatal and missing.exit_code == 2
    clean = parse_text(tmp_path, """
        vrrp_instance Y {
            interface eth0
            virtual_router_id 9
            version 3
            advert_int 0.25
            virtual_ipaddress {
                192.0.2.20/24
            }
        }
        """, "c.conf")
    assert clean.exit_code == 0 and clean.instances[0].version == 3 and clean.instances[0].advert_int == 0.25


def test_include_definitions_and_global_defs_first(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "vrrp.conf").write_text(textwrap.dedent("""
        vrrp_script chk {
            script "/bin/true"
            weight -$DROP
        }
        vrrp_instance $NAME {
            interface eth0
            virtual_router_id 7
            track_script {
                chk
            }
            virtual_ipaddress {
                192.0.2.30/24
            }
        }
        """))
    config = parse_text(tmp_path, """
        $DROP=40
        $NAME=VI_inc
        include conf.d/*.conf
        global_defs {
            script_user root
            enable_script_security
        }
        """)
    (inst,) = config.instances
    assert inst.name == "VI_inc" and inst.track_scripts[0].weight == -40
    assert config.exit_code == 0  # enable_script_security applied although it comes after the script


def keepalived_t(lab, node: str, path) -> tuple[int, set[str]]:
    """Run ``keepalived -t`` (or fastlb-ha -t) in the lab; messages without their location prefix style."""
    out = {}
    for tool in ("keepalived", "fastlb"):
        cmd = ["keepalived", "-t", "-f", str(path)] if tool == "keepalived" else \
            [sys.executable, "-m", "fastlb.ha.cli", "-t", "-f", str(path)]
        proc = subprocess.run(["ip", "netns", "exec", lab.ns[node], *cmd], capture_output=True, text=True,
                              timeout=30, check=False)
        lines = {re.sub(r"^\((?:[^:()]*: )?(Line \d+)\) ", r"(\1) ", line)
                 for line in proc.stderr.splitlines() if line.strip()}
        out[tool] = (proc.returncode, lines)
    return out["keepalived"], out["fastlb"]


CORPUS = {
    "bad_numbers": """
        vrrp_instance X {
          state FOO
          interface eth0
          virtual_router_id abc
          priority 0
          advert_int -1
          virtual_ipaddress {
            192.0.2.10/33
            192.0.2.12/24 brd 192.0.2.255 dev eth0 scope link label eth0:1
          }
        }
        """,
    "auth_and_duplicates": """
        vrrp_instance X {
          interface eth0
          virtual_router_id 7
          priority 255
          nopreempt
          authentication {
            auth_type FOO
            auth_pass 123456789
          }
          virtual_ipaddress {
            192.0.2.10
          }
          notify "/bin/true"
        }
        vrrp_instance X {
          interface eth0
        }
        """,
    "braces": """
        vrrp_instance Z
        {
          interface eth0
          virtual_router_id 9
          virtual_ipaddress
          {
            192.0.2.10/24
          }
        }
        {
        }
        """,
    "master_rounding_unknown_script": """
        vrrp_instance X {
          interface eth0
          virtual_router_id 7
          state MASTER
          nopreempt
          advert_int 1.5
          virtual_ipaddress {
            192.0.2.11/24
          }
          track_script {
             nosuch
          }
        }
        """,
    "missing_interface": """
        vrrp_instance X {
          interface nosuch0
          virtual_router_id 7
          virtual_ipaddress {
            192.0.2.11/24
          }
        }
        """,
    "valid": """
        global_defs {
          router_id ok
          script_user root
          enable_script_security
        }
        vrrp_script chk {
          script "/bin/true"
          interval 1
          weight 10
        }
        vrrp_instance X {
          interface eth0
          virtual_router_id 7
          priority 120
          track_script {
            chk
          }
          virtual_ipaddress {
            192.0.2.11/24 dev eth0 label eth0:vip
          }
        }
        """,
}


@pytest.mark.netns
@pytest.mark.parametrize("name", ["seed", *CORPUS])
def test_config_test_matches_keepalived(lab, tmp_path, name):
    if not shutil.which("keepalived"):
        pytest.skip("keepalived is not installed (apt-get install keepalived); .ci/run installs it")
    if name == "seed":
        path = SEED
    else:
        path = tmp_path / f"{name}.conf"
        path.write_text(textwrap.dedent(CORPUS[name]))
    (ka_rc, ka_lines), (our_rc, our_lines) = keepalived_t(lab, "n1", path)
    assert our_rc == ka_rc
    assert our_lines == ka_lines


@pytest.mark.netns
def test_seed_runs_with_a_warning(lab, tmp_path):
    """The mission's file, VIP moved into 192.0.2.0/24: it starts (keepalived would), warns about the brace,
    and the lone node becomes MASTER after 3 x advert_int (2 s) + skew."""
    with open(SEED, encoding="utf-8") as f:
        text = f.read().replace("192.168.66.10/24", "192.0.2.66/24")
    proc = lab.fastlb_ha("n1", text)
    assert lab.wait_address("n1", "192.0.2.66", True, 3 * 2 + 3.0)
    assert proc.poll() is None
    log = (tmp_path / "n1-fastlb.log").read_text()
    assert "There are 1 missing '}'s or extra '{'s" in log
    assert "(HAProxy_HA) Entering MASTER STATE" in log
    assert lab.stop(proc) == 0
    assert not lab.has_address("n1", "192.0.2.66")

