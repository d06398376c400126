"""Two VRRP nodes and a client on one bridge: fastlb-ha against fastlb-ha and against real keepalived 2.2.7
in both roles. Timings are measured from the event (SIGTERM, freeze + link down) to the VIP showing up on
the backup (``ip monitor address`` in the backup's namespace)."""
from __future__ import annotations

import time

import pytest
from ha_lab import VIP, skew, vrrp_conf

pytestmark = pytest.mark.netns

PAIRS = [("fastlb", "fastlb"), ("fastlb", "keepalived"), ("keepalived", "fastlb")]


def start(lab, kind: str, node: str, conf: str):
    return lab.start(kind, node, conf)


@pytest.mark.parametrize("master_kind,backup_kind", PAIRS)
def test_election_graceful_stop_and_preempt(lab, master_kind, backup_kind):
    lab.serve("n1")
    lab.serve("n2")
    mon2 = lab.monitor("n2")
    mon1 = lab.monitor("n1")
    master = start(lab, master_kind, "n1", vrrp_conf("n1", 150, "MASTER"))
    start(lab, backup_kind, "n2", vrrp_conf("n2", 100, "BACKUP"))

    # Initial election (keepalived 2.2.7 starts even ``state MASTER`` as BACKUP, for 3 x 1 + skew s):
    # the higher priority holds the VIP, the backup does not take it.
    assert lab.wait_address("n1", VIP, True, 3 + skew(150) + 1.0), "n1 never took the VIP"
    time.sleep(1.0)
    assert not lab.has_address("n2", VIP)
    assert lab.client(VIP) == "n1"

    # Graceful stop: priority 0 advert, the backup takes over after its skew time.
    t0 = time.monotonic()
    assert lab.stop(master) is not None
    taken = mon2.wait_added(VIP, t0, 3.0)
    assert taken is not None, "backup did not take the VIP after a graceful stop"
    assert taken - t0 <= skew(100) + 0.2, f"takeover took {taken - t0:.3f}s"
    assert not lab.has_address("n1", VIP), "the stopped master kept the VIP"
    assert lab.client(VIP) == "n2"

    # Preempt: the higher priority node comes back and takes the VIP back.
    t1 = time.monotonic()
    start(lab, master_kind, "n1", vrrp_conf("n1", 150, "MASTER"))
    assert mon1.wait_added(VIP, t1, 3 + skew(150) + 1.0) is not None, "restarted master did not preempt"
    assert lab.wait_address("n2", VIP, False, 2.0), "backup kept the VIP after being preempted"
    assert lab.client(VIP) == "n1"


@pytest.mark.parametrize("master_kind,backup_kind", PAIRS)
def test_crashed_master_is_replaced(lab, master_kind, backup_kind):
    lab.serve("n2")
    mon2 = lab.monitor("n2")
    master = start(lab, master_kind, "n1", vrrp_conf("n1", 150, "MASTER"))
    start(lab, backup_kind, "n2", vrrp_conf("n2", 100, "BACKUP"))
    assert lab.wait_address("n1", VIP, True, 3 + skew(150) + 1.0)
    time.sleep(1.0)
    assert not lab.has_address("n2", VIP)

    lab.freeze(master)
    lab.link("n1", up=False)
    t0 = time.monotonic()
    taken = mon2.wait_added(VIP, t0, 6.0)
    assert taken is not None, "backup did not replace the crashed master"
    assert taken - t0 <= 3 * 1 + skew(100) + 0.3, f"takeover took {taken - t0:.3f}s"
    assert lab.client(VIP) == "n2"


def v3_conf(name: str, priority: int, state: str) -> str:
    """VRRPv3 (no authentication in v3), 0.5 s adverts."""
    conf = vrrp_conf(name, priority, state, global_extra="    vrrp_version 3")
    conf = conf.replace("advert_int 1", "advert_int 0.5")
    return conf.replace("""    authentication {
        auth_type PASS
        auth_pass s3cret
    }""", "")


@pytest.mark.parametrize("master_kind,backup_kind", [("fastlb", "keepalived"), ("keepalived", "fastlb")])
def test_vrrp_v3_with_keepalived(lab, master_kind, backup_kind):
    """v3 checksums (pseudo-header) and centisecond intervals interoperate; skew uses the interval."""
    mon2 = lab.monitor("n2")
    master = start(lab, master_kind, "n1", v3_conf("n1", 150, "MASTER"))
    start(lab, backup_kind, "n2", v3_conf("n2", 100, "BACKUP"))
    assert lab.wait_address("n1", VIP, True, 3 * 0.5 + 2.0)
    time.sleep(1.0)
    assert not lab.has_address("n2", VIP)
    t0 = time.monotonic()
    lab.stop(master)
    taken = mon2.wait_added(VIP, t0, 3.0)
    v3_skew = (256 - 100) * 50 * 625 // 16 / 1e6  # keepalived's VRRP_TIMER_SKEW for 50 cs, in microseconds
    assert taken is not None and taken - t0 <= v3_skew + 0.2
