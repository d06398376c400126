"""vrrp_script counting (rise/fall, first result decides, init_fail), weights and real script runs."""
from __future__ import annotations

import asyncio

import pytest

from fastlb.ha.conf_model import ScriptCommand, TrackedScript, VrrpScript
from fastlb.ha.tracking import FAULT, WAIT, ScriptState, ScriptTracker, script_contribution


def tracker(**kw) -> tuple[ScriptTracker, list[ScriptState]]:
    changes: list[ScriptState] = []
    script = VrrpScript(name="chk", command=ScriptCommand("x", ("/bin/true",)), **kw)
    return ScriptTracker(script, lambda s, state: changes.append(state)), changes


def test_first_result_decides_then_rise_and_fall():
    t, changes = tracker(rise=3, fall=2)
    t.record(True)
    assert changes == [ScriptState.OK]  # first success: OK at once despite rise 3
    t.record(False)
    assert changes == [ScriptState.OK]  # one failure of fall 2
    t.record(False)
    assert changes == [ScriptState.OK, ScriptState.FAILED]
    t.record(True)
    t.record(True)
    assert changes[-1] is ScriptState.FAILED  # two successes of rise 3
    t.record(True)
    assert changes == [ScriptState.OK, ScriptState.FAILED, ScriptState.OK]


def test_first_failure_decides_and_init_fail():
    t, changes = tracker(rise=2, fall=3)
    t.record(False)
    assert changes == [ScriptState.FAILED]
    t2, changes2 = tracker(rise=2, init_fail=True)
    assert t2.state is ScriptState.FAILED
    t2.record(True)
    assert changes2 == []
    t2.record(True)
    assert changes2 == [ScriptState.OK]


def test_weights_as_keepalived():
    ok, failed, init = ScriptState.OK, ScriptState.FAILED, ScriptState.INIT
    assert script_contribution(TrackedScript("s", 21), ok) == 21
    assert script_contribution(TrackedScript("s", 21), failed) == 0
    assert script_contribution(TrackedScript("s", -30), ok) == 0
    assert script_contribution(TrackedScript("s", -30), failed) == -30
    assert script_contribution(TrackedScript("s", 10, reverse=True), ok) == -10
    assert script_contribution(TrackedScript("s", -10, reverse=True), failed) == 10
    assert script_contribution(TrackedScript("s", 0), failed) is FAULT
    assert script_contribution(TrackedScript("s", 0), ok) == 0
    assert script_contribution(TrackedScript("s", 0, reverse=True), ok) is FAULT
    assert script_contribution(TrackedScript("s", 0), init) is WAIT
    assert script_contribution(TrackedScript("s", 5), init) == 0


@pytest.mark.parametrize("argv,expected", [
    (("/bin/true",), True),
    (("/bin/false",), False),
    (("/bin/sh", "-c", "sleep 5"), False),  # killed by the timeout
])
def test_real_script_runs(argv, expected):
    script = VrrpScript(name="chk", command=ScriptCommand(" ".join(argv), argv), interval=1, timeout=0.3)
    t = ScriptTracker(script, lambda s, state: None)

    async def go() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        return await t.run_once(), loop.time() - start

    ok, elapsed = asyncio.run(go())
    assert ok is expected
    assert elapsed < 3.0
