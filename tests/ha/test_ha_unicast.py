"""Unicast VRRP (``unicast_src_ip`` + ``unicast_peer``) on a bridge that drops multicast.

The bridge ports get ``mcast_flood off``, so no frame to 224.0.0.18 crosses the switch. Each node also runs
a multicast instance (VRID 52, VIP 192.0.2.11) as a control: with the block it must split-brain (both
nodes MASTER), which proves that the unicast instance (VRID 51, VIP 192.0.2.10) elects and fails over only
through its unicast adverts. A sniffer on the backup records the VRRP packets it receives.
"""
from __future__ import annotations

import sys
import time

import pytest
from ha_lab import VIP, run, skew

pytestmark = pytest.mark.netns

CONTROL_VIP = "192.0.2.11"
PAIRS = [("fastlb", "fastlb"), ("fastlb", "keepalived"), ("keepalived", "fastlb")]

SNIFFER = r"""
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind(("eth0", 0x0800)); s.settimeout(0.2)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    ip = f[14:]
    if len(ip) > 28 and ip[9] == 112:
        ihl = (ip[0] & 15) * 4
        print(socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]), ip[8], ip[ihl + 1], ip[ihl + 2], flush=True)
"""


def unicast_conf(name: str, priority: int, state: str, src: str, peer: str) -> str:
    return f"""
global_defs {{
    router_id {name}
}}
vrrp_instance VI_U {{
    state {state}
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    unicast_src_ip {src}
    unicast_peer {{
        {peer}
    }}
    authentication {{
        auth_type PASS
        auth_pass s3cret
    }}
    virtual_ipaddress {{
        {VIP}/24 dev eth0
    }}
}}
vrrp_instance VI_M {{
    state BACKUP
    interface eth0
    virtual_router_id 52
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {CONTROL_VIP}/24 dev eth0
    }}
}}
"""


@pytest.mark.parametrize("master_kind,backup_kind", PAIRS)
def test_unicast_election_and_failover_without_multicast(lab, tmp_path, master_kind, backup_kind):
    for node in lab.ns:
        run("ip", "-n", lab.switch, "link", "set", "dev", f"p-{node}", "type", "bridge_slave", "mcast_flood", "off")
    lab.serve("n1")
    lab.serve("n2")
    window = 3 + skew(100) + 3.0
    sniff = lab.spawn("n2", sys.executable, "-c", SNIFFER, str(window), log_name="n2-vrrp.log")
    mon2 = lab.monitor("n2")
    n1, n2 = lab.ip["n1"], lab.ip["n2"]
    master = lab.start(master_kind, "n1", unicast_conf("n1", 150, "MASTER", n1, n2))
    lab.start(backup_kind, "n2", unicast_conf("n2", 100, "BACKUP", n2, n1))

    assert lab.wait_address("n1", VIP, True, 3 + skew(150) + 1.0), "n1 never took the unicast VIP"
    # the multicast control instance cannot hear its peer: both nodes take 192.0.2.11
    assert lab.wait_address("n2", CONTROL_VIP, True, 3 + skew(100) + 1.0), "multicast was not blocked"
    assert lab.wait_address("n1", CONTROL_VIP, True, 1.0)
    sniff.wait(window + 5)
    assert not lab.has_address("n2", VIP), "the unicast backup took the VIP: it does not hear the master"
    assert lab.client(VIP) == "n1"
    seen = [line.split() for line in (tmp_path / "n2-vrrp.log").read_text().splitlines()]
    unicast = [p for p in seen if p[3] == "51"]
    assert unicast, "no unicast advert reached n2"
    assert all(p[0] == n1 and p[1] == n2 and p[2] == "255" and p[4] == "150" for p in unicast), unicast
    assert not any(p[1] == "224.0.0.18" and p[0] == n1 for p in seen), "multicast crossed the bridge"

    t0 = time.monotonic()
    assert lab.stop(master) is not None
    taken = mon2.wait_added(VIP, t0, 3.0)
    assert taken is not None, "the unicast backup did not take over after a graceful stop"
    assert taken - t0 <= skew(100) + 0.2, f"takeover took {taken - t0:.3f}s"
    assert lab.client(VIP) == "n2"
