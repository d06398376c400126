"""The master process: binds, forks the workers, supervises them, and answers signals.

Signals (as HAProxy's):
  SIGUSR1          soft stop: stop accepting, let streams finish, exit (``-sf``)
  SIGTERM, SIGINT  hard stop: close everything now (``-st``)
  SIGTTOU, SIGTTIN pause / resume the listeners
  SIGHUP           log the servers' states
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any

from ..config.model import Config
from .listeners import BindError, ListenerSet
from .plan import Plan, PlanError, build_plan
from .shm import init_shared_state

PID = os.getpid


def alert(msg: str) -> None:
    print(f"[ALERT]    ({os.getpid()}) : {msg}", file=sys.stderr, flush=True)


def warning(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(f"[WARNING]  ({os.getpid()}) : {msg}", file=sys.stderr, flush=True)


def notice(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(f"[NOTICE]   ({os.getpid()}) : {msg}", file=sys.stderr, flush=True)


class Master:
    """Supervises the worker processes of one plan."""

    def __init__(self, plan: Plan, listeners: ListenerSet, opts: Any):
        self.plan = plan
        self.listeners = listeners
        self.opts = opts
        self.quiet = bool(getattr(opts, "quiet", False))
        self.shm = init_shared_state(plan)
        self.workers: dict[int, int] = {}  # pid -> worker index
        self.stopping = False
        self.exit_code = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.services: list[Any] = []  # health checks, stats socket...: objects with start()/stop()
        self._death_pipes: dict[int, int] = {}
        # -- fastlb.api: master -> worker command channels (runtime API: add/del server, show sess)
        from ..api import ControlHub

        self.control_hub = ControlHub()

    # -- workers -------------------------------------------------------------------------------

    def spawn(self, index: int) -> int:
        r, w = os.pipe()
        self.control_hub.new_pair(index)  # fastlb.api
        pid = os.fork()
        if pid == 0:
            os.close(w)
            code = 1
            try:
                from .worker import worker_main

                # -- fastlb.api: drop the master's sockets, keep this worker's command channel
                control_fd = self.control_hub.child_after_fork(index)
                for svc in self.services:
                    getattr(svc, "after_fork_child", lambda: None)()
                code = worker_main(self.plan, self.shm, index, self.listeners.fds_for(index), r,
                                   control_fd=control_fd)
            except BaseException as exc:  # noqa: BLE001 - a worker must never return into the master's code
                alert(f"worker {index} crashed: {exc!r}")
            finally:
                os._exit(code)
        os.close(r)
        if self.loop is not None:
            self.control_hub.parent_after_fork(index, self.loop)  # fastlb.api
        self._death_pipes[pid] = w
        self.workers[pid] = index
        self._watch(pid)
        return pid

    def _watch(self, pid: int) -> None:
        """Reap `pid` as soon as it exits: a pidfd becomes readable then (uvloop keeps SIGCHLD
        for itself)."""
        if self.loop is None:
            return
        try:
            pfd = os.pidfd_open(pid)
        except (OSError, AttributeError):
            self.loop.call_later(0.5, self._poll_reap)
            return

        def exited() -> None:
            self.loop.remove_reader(pfd)
            os.close(pfd)
            self.reap()

        self.loop.add_reader(pfd, exited)

    def _poll_reap(self) -> None:
        self.reap()
        if self.workers and self.loop is not None:
            self.loop.call_later(0.5, self._poll_reap)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            index = self.workers.pop(pid, None)
            fd = self._death_pipes.pop(pid, None)
            if fd is not None:
                os.close(fd)
            if index is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if not self.stopping:
                alert(f"Current worker (#{index + 1}, pid {pid}) exited with code {code}: restarting it")
                self.spawn(index)
        if self.stopping and not self.workers and self.loop is not None:
            self.loop.stop()

    def signal_workers(self, sig: int) -> None:
        for pid in list(self.workers):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    # -- signals -------------------------------------------------------------------------------

    def on_soft_stop(self) -> None:
        notice("Stopping frontends and waiting for streams to finish (soft stop)", self.quiet)
        self.stopping = True
        self.listeners.close()  # the workers keep their own copies until they finish
        self.signal_workers(signal.SIGUSR1)
        self._stop_services()
        hard = self.plan.config.global_.hard_stop_after_ms
        if hard and self.loop is not None:
            self.loop.call_later(hard / 1000.0, self.on_hard_stop)
        self.reap()

    def on_hard_stop(self) -> None:
        self.stopping = True
        self.signal_workers(signal.SIGTERM)
        self._stop_services()
        self.reap()

    def on_pause(self) -> None:
        self.signal_workers(signal.SIGTTOU)

    def on_resume(self) -> None:
        self.signal_workers(signal.SIGTTIN)

    def on_dump_states(self) -> None:
        for sp in self.plan.servers:
            st = self.shm.get_server(sp.slot)
            state = "UP" if st["oper"] else "DOWN"
            if st["admin"] & 1:
                state = "MAINT"
            notice(f"SIGHUP: Server {sp.backend}/{sp.name} is {state}. Conn: {self.shm.sum_counters(sp.counter_slot)['cur_sess']} act, "
                   f"weight {st['uweight']}.", self.quiet)

    def _stop_services(self) -> None:
        for svc in self.services:
            try:
                svc.stop()
            except Exception as exc:  # noqa: BLE001
                warning(f"stopping {svc!r}: {exc}")
        self.services = []

    # -- main ----------------------------------------------------------------------------------

    def run(self) -> int:
        import uvloop

        self.loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self.loop)
        loop = self.loop
        for i in range(self.plan.nbworkers):
            self.spawn(i)
        loop.add_signal_handler(signal.SIGUSR1, self.on_soft_stop)
        loop.add_signal_handler(signal.SIGTERM, self.on_hard_stop)
        loop.add_signal_handler(signal.SIGINT, self.on_hard_stop)
        loop.add_signal_handler(signal.SIGTTOU, self.on_pause)
        loop.add_signal_handler(signal.SIGTTIN, self.on_resume)
        loop.add_signal_handler(signal.SIGHUP, self.on_dump_states)
        for svc in self.services:
            svc.start(loop)
        self.reap()  # a worker may have died before the handler was installed
        try:
            loop.run_forever()
        finally:
            self.listeners.close()
            loop.close()
        return self.exit_code


def check_rules(plan: Plan) -> None:
    """Compile the routing rules once in the master, so that a rule the engine cannot run is
    reported before any worker starts (workers compile their own copy)."""
    from ..engine._proxy import Worker

    shm = init_shared_state(plan)
    Worker(None, plan, shm.mm, 0).shutdown_unstarted()


def daemonize() -> None:
    """Detach from the terminal: fork, setsid, fork, stdio to /dev/null."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def signal_old_pids(opts: Any) -> None:
    for pid in getattr(opts, "finish_pids", []) or []:
        _kill(pid, signal.SIGUSR1)
    for pid in getattr(opts, "terminate_pids", []) or []:
        _kill(pid, signal.SIGTERM)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        warning(f"cannot signal old process {pid}: {exc.strerror}")


def write_pidfile(path: str, pids: list[int]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write("".join(f"{p}\n" for p in pids))
    os.replace(tmp, path)


def run(config: Config, opts: Any) -> int:
    """Start serving `config` (the command line's run path)."""
    quiet = bool(getattr(opts, "quiet", False))
    try:
        plan = build_plan(config, maxconn_override=getattr(opts, "maxconn", None))
    except PlanError as exc:
        alert(f"config : {exc}")
        return 1
    for w in plan.warnings:
        warning(w, quiet)
    try:
        listeners = ListenerSet(plan)
    except BindError as exc:
        for line in str(exc).splitlines():
            alert(line)
        alert("[fastlb.main()] Some protocols failed to start their listeners! Exiting.")
        return 1
    # -- fastlb.api: bind the stats sockets before going to the background, as HAProxy does
    from ..api import BindError as ApiBindError
    from ..api import attach_master_services, bind_stats_sockets, close_bound

    try:
        stats_sockets = bind_stats_sockets(config.global_)
    except ApiBindError as exc:
        alert(str(exc))
        alert("[fastlb.main()] Some protocols failed to start their listeners! Exiting.")
        listeners.close()
        return 1
    foreground = getattr(opts, "foreground", False) or getattr(opts, "debug", False)
    daemon = getattr(opts, "daemon", False) or (config.global_.daemon and not foreground)
    if daemon:
        daemonize()
    pidfile = getattr(opts, "pidfile", None) or config.global_.pidfile
    if pidfile:
        try:
            write_pidfile(pidfile, [os.getpid()])
        except OSError as exc:
            alert(f"[fastlb.main()] Cannot create pidfile {pidfile}: {exc.strerror}")
            if not daemon:
                listeners.close()
                close_bound(stats_sockets)  # fastlb.api
                return 1
    try:
        check_rules(plan)
    except Exception as exc:  # noqa: BLE001 - any compile failure is a configuration error
        alert(f"config : {exc}")
        listeners.close()
        close_bound(stats_sockets)  # fastlb.api
        return 1
    master = Master(plan, listeners, opts)
    master.shm.start_time = int(time.time())
    attach_master_services(master, stats_sockets, quiet)  # fastlb.health + fastlb.api
    signal_old_pids(opts)
    try:
        return master.run()
    finally:
        if pidfile:
            try:
                with open(pidfile) as f:
                    if f.read().split() == [str(os.getpid())]:
                        os.unlink(pidfile)
            except OSError:
                pass
