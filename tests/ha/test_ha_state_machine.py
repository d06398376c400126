"""The VRRP state machine (fastlb/ha/instance.py) on a simulated clock, against keepalived 2.2.7's rules.

Every instant below is computed by hand from RFC 3768/5798 and keepalived's VRRP_TIMER_SKEW (whole
microseconds); the simulated loop runs timers exactly, so the assertions are to the microsecond.
"""
from __future__ import annotations

import pytest
from vrrp_sim import VIP, FakeLoop, Wire, advert, instance, make_router, run_coroutine

from fastlb.ha.conf_model import TrackedInterface, TrackedScript
from fastlb.ha.instance import BACKUP, FAULT_STATE, INIT, MASTER
from fastlb.ha.tracking import ScriptState

PEER = "192.0.2.2"
EPS = 1e-6


def v2_down(priority: int, adver: float = 1.0) -> float:
    return 3 * adver + (256 - priority) * 1_000_000 // 256 / 1e6


def v3_down(priority: int, adver: float) -> float:
    centis = round(adver * 100)
    return 3 * adver + (256 - priority) * centis * 625 // 16 / 1e6


# ---- Master_Down_Interval and skew ----------------------------------------------------------------

@pytest.mark.parametrize("version,priority,adver,expected", [
    (2, 100, 1.0, 3.609375),   # 3 x 1 + 156/256
    (2, 254, 1.0, 3.007812),   # 3 + 2/256 s, truncated to the microsecond
    (2, 1, 2.0, 6.996093),     # the skew does not scale with the interval in v2
    (3, 100, 0.5, 1.804687),   # 1.5 + 156 * 50 * 625 / 16 us (truncated to the microsecond)
    (3, 200, 1.0, 3.21875),    # 3 + 56 * 100 / 256 cs
    (3, 150, 0.02, 0.068281),  # 0.06 + 106 * 2 * 625 / 16 us
])
def test_backup_takes_over_after_master_down_interval(version, priority, adver, expected):
    cfg = instance(version=version, priority=priority, advert_int=adver)
    router, host, loop = make_router(cfg)
    assert router.state == BACKUP and host.states() == [BACKUP]
    assert router.down_interval() == pytest.approx(expected, abs=1e-9)
    loop.run_until(expected - EPS)
    assert router.state == BACKUP and host.sent == [] and not host.vips
    loop.run_until(expected + EPS)
    assert router.state == MASTER and host.states() == [BACKUP, MASTER]
    assert host.sent[0].time == pytest.approx(expected) and host.sent[0].advert.priority == priority
    assert host.vips == {VIP} and host.garps == [(pytest.approx(expected), 5)]
    loop.advance(3 * adver + EPS)
    assert [round(s.time - expected, 6) for s in host.sent] == [round(k * adver, 6) for k in range(4)]
    loop.advance(5.0)
    assert len(host.garps) == 2 and host.garps[1][0] == pytest.approx(expected + 5.0)  # garp_master_delay


def test_v3_backup_learns_the_masters_interval():
    cfg = instance(version=3, priority=100, advert_int=1.0)
    router, _host, loop = make_router(cfg)
    ticker = loop.every(2.0, lambda: router.receive(advert(cfg, PEER, 150, adver_int=2.0)), start=0.5)
    loop.run_until(10.5)
    assert router.state == BACKUP and router.master_adver_int == 2.0
    ticker.stop()  # last advert at t = 10.5
    learned = v3_down(100, 2.0)
    assert learned == pytest.approx(6 + 1.21875)
    loop.run_until(10.5 + learned - EPS)
    assert router.state == BACKUP
    loop.run_until(10.5 + learned + EPS)
    assert router.state == MASTER and router.master_adver_int == 1.0  # a master advertises its own


def test_v2_adverts_with_another_interval_are_dropped():
    cfg = instance(priority=100)
    router, _host, loop = make_router(cfg)
    loop.every(1.0, lambda: router.receive(advert(cfg, PEER, 150, adver_int=2.0)), start=0.5)
    loop.run_until(v2_down(100) + EPS)
    assert router.state == MASTER  # keepalived ignores a v2 master with another advert_int


def test_priority_zero_moves_the_backup_after_its_skew():
    cfg = instance(priority=100)
    router, _host, loop = make_router(cfg)
    ticker = loop.every(1.0, lambda: router.receive(advert(cfg, PEER, 150)), start=0.2)
    loop.run_until(8.2)
    ticker.stop()
    router.receive(advert(cfg, PEER, 0))  # the master stops at t = 8.2
    loop.run_until(8.2 + 156 / 256 - EPS)
    assert router.state == BACKUP
    loop.run_until(8.2 + 156 / 256 + EPS)
    assert router.state == MASTER


def test_stop_sends_priority_zero_and_releases_the_vips():
    cfg = instance(priority=120, notify_stop=None)
    router, host, loop = make_router(cfg)
    loop.advance(v2_down(120) + 0.5)
    assert router.state == MASTER
    sent = len(host.sent)
    run_coroutine(router.shutdown())
    assert [s.advert.priority for s in host.sent[sent:]] == [0]
    assert not host.vips and host.states()[-1] == "STOP" and router.channel is None
    loop.advance(5)
    assert len(host.sent) == sent + 1  # no advert after the stop

    backup, bhost, _bloop = make_router(cfg)
    run_coroutine(backup.shutdown())
    assert bhost.sent == [] and bhost.states() == [BACKUP, "STOP"]


# ---- election ----------------------------------------------------------------------------------

def test_preempt_a_lower_master_when_the_down_timer_fires():
    cfg = instance(priority=150)
    router, host, loop = make_router(cfg)
    loop.every(1.0, lambda: router.receive(advert(cfg, PEER, 100)), start=0.5)
    # lower adverts are discarded: the timer armed at start-up is not restarted by them
    loop.run_until(v2_down(150) - EPS)
    assert router.state == BACKUP
    loop.run_until(v2_down(150) + EPS)
    assert router.state == MASTER
    before = len(host.sent)
    loop.run_until(3.5 + EPS)  # the old master's next advert: answered at once (forcing a new election)
    assert host.sent[before].time == pytest.approx(3.5) and router.state == MASTER


def test_nopreempt_stays_backup_under_a_lower_master():
    cfg = instance(priority=150, nopreempt=True)
    router, host, loop = make_router(cfg)
    ticker = loop.every(1.0, lambda: router.receive(advert(cfg, PEER, 100)), start=0.5)
    loop.run_until(30.5)
    assert router.state == BACKUP and host.states() == [BACKUP] and host.sent == []
    ticker.stop()  # last advert at t = 30.5: the lower master died
    loop.run_until(30.5 + v2_down(150) - EPS)
    assert router.state == BACKUP
    loop.run_until(30.5 + v2_down(150) + EPS)
    assert router.state == MASTER


def test_preempt_delay_holds_back_then_preempts():
    cfg = instance(priority=150, preempt_delay=5.0)
    router, _host, loop = make_router(cfg)
    loop.every(1.0, lambda: router.receive(advert(cfg, PEER, 100)), start=0.5)
    # the first lower advert (t = 0.5) starts the delay: adverts are accepted until 5.5, the one at
    # 5.5 is discarded, so the down timer armed by the advert at 4.5 fires.
    takeover = 4.5 + v2_down(150)
    loop.run_until(takeover - EPS)
    assert router.state == BACKUP
    assert router.preempt_time == pytest.approx(5.5)
    loop.run_until(takeover + EPS)
    assert router.state == MASTER


def test_preempt_delay_restarts_after_a_higher_advert():
    cfg = instance(priority=150, preempt_delay=5.0)
    router, _host, loop = make_router(cfg)
    loop.every(1.0, lambda: router.receive(advert(cfg, PEER, 100)), start=0.5)
    loop.call_at(2.2, router.receive, advert(cfg, "192.0.2.3", 200))  # a better router speaks once
    loop.run_until(2.3)
    assert router.preempt_time is None
    takeover = 6.5 + v2_down(150)  # the delay starts again at 2.5 and ends at 7.5
    loop.run_until(takeover - EPS)
    assert router.state == BACKUP and router.preempt_time == pytest.approx(7.5)
    loop.run_until(takeover + EPS)
    assert router.state == MASTER


@pytest.mark.parametrize("first", ["192.0.2.1", "192.0.2.2"])
def test_equal_priority_masters_settle_on_the_higher_address(first):
    loop = FakeLoop()
    wire = Wire(loop)
    cfg = instance(priority=100)
    routers = {}
    for src in (first, *({"192.0.2.1", "192.0.2.2"} - {first})):
        router, host, _ = make_router(cfg, loop, source=src, start=False)
        wire.attach(host)
        routers[src] = (router, host)
    for router, _ in routers.values():
        router.start()  # same priority, same instant: both down timers fire together
    loop.run_until(v2_down(100) + 0.0005)
    assert all(r.state == MASTER for r, _ in routers.values())
    loop.advance(0.01)
    low, low_host = routers["192.0.2.1"]
    high, high_host = routers["192.0.2.2"]
    assert high.state == MASTER and high_host.vips == {VIP}
    assert low.state == BACKUP and not low_host.vips and low_host.states() == [BACKUP, MASTER, BACKUP]
    loop.advance(20)  # stable: the backup keeps accepting the equal-priority master
    assert high.state == MASTER and low.state == BACKUP
    assert low_host.states() == [BACKUP, MASTER, BACKUP]


def test_master_answers_an_equal_priority_from_a_lower_address():
    cfg = instance(priority=100)
    router, host, loop = make_router(cfg, source="192.0.2.5")
    loop.advance(v2_down(100) + EPS)
    before = len(host.sent)
    loop.call_at(4.0, router.receive, advert(cfg, "192.0.2.4", 100))
    loop.run_until(4.0)
    assert router.state == MASTER and host.sent[before].time == 4.0  # an immediate advert
    router.receive(advert(cfg, "192.0.2.6", 100))
    assert router.state == BACKUP and not host.vips


def test_adverts_for_other_addresses_are_ignored():
    cfg = instance(priority=100)
    router, _host, loop = make_router(cfg)
    other = (VIP, VIP + 1)
    loop.every(1.0, lambda: router.receive(advert(cfg, PEER, 200, addresses=other)), start=0.5)
    loop.run_until(v2_down(100) + EPS)
    assert router.state == MASTER


# ---- priorities ---------------------------------------------------------------------------------

@pytest.mark.parametrize("base,weight,state,expected", [
    (250, 20, ScriptState.OK, 254),  # clamped to 254 (255 is the owner's)
    (20, -50, ScriptState.FAILED, 1),  # clamped to 1
    (100, 50, ScriptState.FAILED, 100),
    (100, -30, ScriptState.FAILED, 70),
])
def test_effective_priority_is_clamped(base, weight, state, expected):
    cfg = instance(priority=base, track_scripts=(TrackedScript("chk", weight),))
    router, host, loop = make_router(cfg, start=False)
    host.scripts["chk"] = state
    router.start()
    assert router.effective_priority == expected
    loop.advance(v2_down(expected) + EPS)
    assert router.state == MASTER and host.priorities_sent()[0] == expected


def test_owner_ignores_weights_and_becomes_master_at_once():
    cfg = instance(priority=255, initial_state="MASTER", track_scripts=(TrackedScript("chk", -50),))
    router, host, _loop = make_router(cfg, start=False)
    host.scripts["chk"] = ScriptState.FAILED
    router.start()
    assert router.state == MASTER and host.states() == [MASTER] and host.priorities_sent() == [255]
    router.receive(advert(cfg, PEER, 254))
    assert router.state == MASTER and host.priorities_sent()[-1] == 255


def test_two_owners_the_receiver_steps_down_to_254():
    cfg = instance(priority=255, initial_state="MASTER")
    router, _host, _loop = make_router(cfg)
    router.receive(advert(cfg, PEER, 255))
    assert router.effective_priority == 254 and router.state == BACKUP
    router.tracking_changed()  # the reduction sticks when the priority is computed again
    assert router.effective_priority == 254


def test_rising_priority_moves_the_running_down_timer_earlier():
    cfg = instance(priority=100, track_scripts=(TrackedScript("chk", 50),))
    router, host, loop = make_router(cfg, start=False)
    host.scripts["chk"] = ScriptState.FAILED
    router.start()
    assert router.down_timer_remaining() == pytest.approx(v2_down(100))
    loop.run_until(1.0)
    host.scripts["chk"] = ScriptState.OK
    router.tracking_changed()
    assert router.effective_priority == 150
    # the timer set at t = 0 for 3 + 156/256 now ends at 3 + 106/256 (keepalived shifts it by the difference)
    loop.run_until(v2_down(150) - EPS)
    assert router.state == BACKUP
    loop.run_until(v2_down(150) + EPS)
    assert router.state == MASTER and host.priorities_sent()[0] == 150


def test_a_weaker_master_is_taken_over_by_the_backup():
    """A MASTER whose script fails advertises the lower priority; a better backup then takes over."""
    loop = FakeLoop()
    wire = Wire(loop)
    master_cfg = instance(priority=150, track_scripts=(TrackedScript("chk", -60),))
    master, mhost, _ = make_router(master_cfg, loop, source="192.0.2.1", start=False)
    backup, bhost, _ = make_router(instance(priority=100), loop, source="192.0.2.2", start=False)
    wire.attach(mhost)
    wire.attach(bhost)
    mhost.scripts["chk"] = ScriptState.OK
    master.start()
    backup.start()
    loop.advance(10)
    assert master.state == MASTER and backup.state == BACKUP
    mhost.scripts["chk"] = ScriptState.FAILED
    master.tracking_changed()
    assert master.effective_priority == 90
    loop.advance(v2_down(100) + 1.1)
    assert backup.state == MASTER and master.state == BACKUP and not mhost.vips and bhost.vips == {VIP}


# ---- FAULT ----------------------------------------------------------------------------------------

def test_interface_down_at_start_is_fault_until_it_comes_up():
    cfg = instance(priority=100)
    router, host, loop = make_router(cfg, start=False)
    host.links["eth0"] = False
    router.start()
    assert router.state == FAULT_STATE and host.states() == [FAULT_STATE] and host.stale_sweeps == 1
    router.receive(advert(cfg, PEER, 0))
    loop.advance(30)
    assert router.state == FAULT_STATE and host.sent == [] and not host.vips
    host.links["eth0"] = True
    router.tracking_changed()
    assert router.state == BACKUP and host.states() == [FAULT_STATE, BACKUP]
    loop.advance(v2_down(100) + EPS)
    assert router.state == MASTER


def test_master_losing_its_interface_sends_priority_zero_and_recovers():
    cfg = instance(priority=100)
    router, host, loop = make_router(cfg)
    loop.advance(v2_down(100) + 0.5)
    assert router.state == MASTER
    sent = len(host.sent)
    host.links["eth0"] = False
    router.tracking_changed()
    assert router.state == FAULT_STATE and not host.vips
    assert host.priorities_sent()[sent:] == [0] and host.states() == [BACKUP, MASTER, FAULT_STATE]
    loop.advance(10)
    assert len(host.sent) == sent + 1  # no adverts in FAULT
    host.links["eth0"] = True
    t0 = loop.now
    router.tracking_changed()
    assert router.state == BACKUP
    loop.run_until(t0 + v2_down(100) + EPS)
    assert router.state == MASTER and host.vips == {VIP}


def test_dont_track_primary_ignores_the_interface():
    cfg = instance(priority=100, dont_track_primary=True)
    router, host, _loop = make_router(cfg, start=False)
    host.links["eth0"] = False
    router.start()
    assert router.state == BACKUP


def test_weight_zero_script_failing_is_fault():
    cfg = instance(priority=100, track_scripts=(TrackedScript("chk", 0),))
    router, host, loop = make_router(cfg)
    assert router.state == INIT and host.events == []  # waits for the first result
    loop.advance(10)
    assert router.state == INIT and host.sent == []
    host.scripts["chk"] = ScriptState.OK
    router.tracking_changed()
    assert router.state == BACKUP
    loop.advance(v2_down(100) + EPS)
    assert router.state == MASTER
    host.scripts["chk"] = ScriptState.FAILED
    router.tracking_changed()
    assert router.state == FAULT_STATE and not host.vips and host.priorities_sent()[-1] == 0
    host.scripts["chk"] = ScriptState.OK
    router.tracking_changed()
    assert router.state == BACKUP and host.states() == [BACKUP, MASTER, FAULT_STATE, BACKUP]


def test_weight_zero_script_failing_first_goes_to_fault_from_init():
    cfg = instance(priority=100, track_scripts=(TrackedScript("chk", 0),))
    router, host, _loop = make_router(cfg)
    host.scripts["chk"] = ScriptState.FAILED
    router.tracking_changed()
    assert router.state == FAULT_STATE and host.states() == [FAULT_STATE]


def test_reverse_weight_zero_script_succeeding_is_fault():
    cfg = instance(priority=100, track_scripts=(TrackedScript("chk", 0, reverse=True),))
    router, host, _loop = make_router(cfg, start=False)
    host.scripts["chk"] = ScriptState.OK
    router.start()
    assert router.state == FAULT_STATE


@pytest.mark.parametrize("weight,reverse,expected_state,expected_priority", [
    (0, False, FAULT_STATE, 100),   # unweighted track_interface: down means FAULT
    (-30, False, BACKUP, 70),       # negative weight: subtracted while down
    (20, False, BACKUP, 100),       # positive weight: added only while up
    (-30, True, BACKUP, 130),       # reverse flips the sign
])
def test_track_interface_down(weight, reverse, expected_state, expected_priority):
    cfg = instance(priority=100, track_interfaces=(TrackedInterface("eth1", weight, reverse),))
    router, host, _loop = make_router(cfg)
    up_priority = router.effective_priority
    assert up_priority == (120 if weight > 0 else 100)
    host.links["eth1"] = False
    router.tracking_changed()
    assert router.state == expected_state and router.effective_priority == expected_priority
    host.links["eth1"] = True
    router.tracking_changed()
    assert router.state == BACKUP and router.effective_priority == up_priority
