"""``vrrp_script`` runners and keepalived's rise/fall counting.

A script's result counter follows keepalived: it starts at ``rise - 1`` so that the first result decides
at once (OK after one success, FAILED after one failure), or at 0 in FAILED state with ``init_fail``;
afterwards ``rise`` consecutive successes make a failed script OK and ``fall`` consecutive failures
make an OK script FAILED. A run that outlives ``timeout`` (default: the interval) is killed (its whole
process group) and counts as a failure.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import os
import signal
from collections.abc import Callable

from .conf_model import TrackedScript, VrrpScript

log = logging.getLogger("fastlb.ha")


class ScriptState(enum.Enum):
    INIT = "INIT"
    OK = "OK"
    FAILED = "FAILED"


FAULT = object()  # contribution meaning "the instance must be in FAULT state"
WAIT = object()  # contribution meaning "the instance waits for the script's first result"


def script_contribution(track: TrackedScript, state: ScriptState) -> int | object:
    """What a tracked script adds to the instance's priority (keepalived's process_script_update_priority):
    a positive weight is added while the script is OK, a negative one while it is FAILED; ``reverse``
    flips the sign; weight 0 means FAULT while the script fails (while it succeeds with ``reverse``)."""
    multiplier = -1 if track.reverse else 1
    if track.weight == 0:
        if state is ScriptState.INIT:
            return WAIT
        failing = (state is ScriptState.FAILED) if multiplier == 1 else (state is ScriptState.OK)
        return FAULT if failing else 0
    if state is ScriptState.OK and track.weight > 0:
        return track.weight * multiplier
    if state is ScriptState.FAILED and track.weight < 0:
        return track.weight * multiplier
    return 0


class ScriptTracker:
    """Runs one vrrp_script every ``interval`` and reports state changes."""

    def __init__(self, script: VrrpScript, on_change: Callable[[VrrpScript, ScriptState], None],
                 builtin: Callable[[tuple[str, ...], float], object] | None = None) -> None:
        self.script = script
        self.on_change = on_change
        self.builtin = builtin
        self.state = ScriptState.FAILED if script.init_fail else ScriptState.INIT
        self.result = 0 if script.init_fail else script.rise - 1
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                ok = await self.run_once()
            except asyncio.CancelledError:
                raise
            except (OSError, ValueError, RuntimeError) as exc:  # a script that cannot start is failing
                log.warning("VRRP_Script(%s) could not run: %s", self.script.name, exc)
                ok = False
            self.record(ok)
            await asyncio.sleep(max(0.0, self.script.interval - (loop.time() - started)))

    async def run_once(self) -> bool:
        argv = self.script.command.argv
        timeout = self.script.effective_timeout
        if self.builtin is not None:
            result = self.builtin(argv, timeout)
            return bool(await result) if asyncio.iscoroutine(result) else bool(result)
        kwargs: dict[str, object] = {}
        if self.script.command.uid != os.geteuid():
            kwargs["user"] = self.script.command.uid
            kwargs["group"] = self.script.command.gid
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True, **kwargs)  # type: ignore[arg-type]
        try:
            code = await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            log.info("VRRP_Script(%s) timed out", self.script.name)
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except asyncio.TimeoutError:
                _kill_group(proc.pid, signal.SIGKILL)
                await proc.wait()
            return False
        return code == 0

    def record(self, ok: bool) -> None:
        """Count one result (keepalived's vrrp_script_child_thread)."""
        s = self.script
        first = self.state is ScriptState.INIT
        if ok:
            if self.result < s.rise - 1 and not first:
                self.result += 1
                return
            changed = self.result < s.rise or first
            self.result = s.rise + s.fall - 1
            if changed:
                log.info("VRRP_Script(%s) succeeded", s.name)
                self.state = ScriptState.OK
                self.on_change(s, self.state)
        else:
            if self.result > s.rise and not first:
                self.result -= 1
                return
            changed = self.result >= s.rise or first
            self.result = 0
            if changed:
                log.info("VRRP_Script(%s) failed", s.name)
                self.state = ScriptState.FAILED
                self.on_change(s, self.state)


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
