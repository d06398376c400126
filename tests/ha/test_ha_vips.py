"""Virtual addresses on the machine: stale VIPs removed at start-up, ``dev`` and ``label`` as keepalived sets
them (``ip -o addr`` compared line for line with keepalived 2.2.7 on the same configuration)."""
from __future__ import annotations

import shutil

import pytest
from ha_lab import VIP, run, skew, vrrp_conf, wait_for

pytestmark = pytest.mark.netns

OTHER_VIP = "192.0.2.20"


def addr_lines(lab, node: str, address: str) -> list[str]:
    """``ip -o addr`` lines for ``address`` on every device, without the interface index and lifetimes."""
    out = run("ip", "-n", lab.ns[node], "-o", "-4", "addr", "show").stdout
    return sorted(" ".join(line.split("\\")[0].split()[1:]) for line in out.splitlines()
                  if f"inet {address}/" in line)


def test_stale_vip_is_removed_when_starting_as_backup(lab):
    lab.fastlb_ha("n2", vrrp_conf("n2", 150, "MASTER"))
    assert lab.wait_address("n2", VIP, True, 3 + skew(150) + 1.0)
    # n1 crashed earlier while MASTER: its VIP is still on eth0
    run("ip", "-n", lab.ns["n1"], "addr", "add", f"{VIP}/24", "dev", "eth0")
    assert lab.has_address("n1", VIP)
    proc = lab.fastlb_ha("n1", vrrp_conf("n1", 100, "BACKUP"))
    assert lab.wait_address("n1", VIP, False, 2.0), "the stale VIP was not removed at start-up"
    assert wait_for(lambda: "removed stale VIP 192.0.2.10/24 dev eth0" in lab.log("n1-fastlb.log"), 2.0)
    assert wait_for(lambda: "(VI_1) Entering BACKUP STATE" in lab.log("n1-fastlb.log"), 2.0)
    assert proc.poll() is None
    assert not lab.has_address("n1", VIP) and lab.has_address("n2", VIP)
    assert lab.has_address("n1", lab.ip["n1"]), "the node's own address was touched"


LABELLED = """
vrrp_instance VI_1 {{
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {{
        {vip}/24 dev eth0 label eth0:vip
        {other}/32 dev eth1 label eth1:ha
    }}
}}
"""


def test_vip_dev_and_label_as_keepalived_sets_them(lab):
    # a second device (a veth pair inside n1: the dummy driver is not always available)
    run("ip", "-n", lab.ns["n1"], "link", "add", "eth1", "type", "veth", "peer", "name", "eth1-peer")
    for dev in ("eth1", "eth1-peer"):
        run("ip", "-n", lab.ns["n1"], "link", "set", dev, "up")
    conf = LABELLED.format(vip=VIP, other=OTHER_VIP)
    seen = {}
    kinds = ["fastlb"] + (["keepalived"] if shutil.which("keepalived") else [])
    for kind in kinds:
        proc = lab.start(kind, "n1", conf)
        assert lab.wait_address("n1", VIP, True, 3 + skew(150) + 1.0), f"{kind} never became MASTER"
        assert wait_for(lambda: addr_lines(lab, "n1", OTHER_VIP), 1.0)
        seen[kind] = addr_lines(lab, "n1", VIP) + addr_lines(lab, "n1", OTHER_VIP)
        assert lab.stop(proc) is not None
        assert lab.wait_address("n1", VIP, False, 2.0)
        assert not addr_lines(lab, "n1", OTHER_VIP)
    assert seen["fastlb"] == [
        "eth0 inet 192.0.2.10/24 scope global secondary eth0:vip",
        "eth1 inet 192.0.2.20/32 scope global eth1:ha",
    ], seen["fastlb"]
    if "keepalived" not in seen:
        pytest.skip("keepalived is not installed: fastlb-ha checked alone (.ci/run installs keepalived)")
    assert seen["fastlb"] == seen["keepalived"]
