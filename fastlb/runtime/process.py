"""The master process: binds, forks the workers, supervises them, and answers signals.

Signals (as HAProxy's):
  SIGUSR1          soft stop: stop accepting, let streams finish, exit (``-sf``)
  SIGTERM, SIGINT  hard stop: close everything now (``-st``)
  SIGTTOU, SIGTTIN pause / resume the listeners
  SIGHUP           log the servers' states

Standalone mode (no ``-W``) is run() here; master-worker mode is fastlb.runtime.reload. Both share
the Master class: it forks the workers, tells when they are all ready (`when_ready`), and hands
its listening sockets to the next process (fastlb.runtime.sockxfer).
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from ..config.model import Config
from . import sockxfer
from .daemon import (
    Identity,
    StartupError,
    apply_identity,
    apply_ulimit_n,
    check_identity,
    daemonize,
    preload_for_chroot,
    raise_fd_limit,
    remove_pidfile,
    resolve_identity,
    run_mode,
    write_pidfile,
)
from .listeners import BindError, ListenerSet
from .plan import Plan, PlanError, build_plan
from .shm import init_shared_state
from .statedump import sighup_lines

PID = os.getpid
#: A worker dying sooner than this after its start is restarted with a growing delay...
RESPAWN_YOUNG = 2.0
#: ...of at most this long.
RESPAWN_MAX_DELAY = 10.0
#: The signals a worker handles; blocked from fork() until its handlers are installed.
WORKER_SIGNALS = {signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                  signal.SIGTTOU, signal.SIGTTIN}


def alert(msg: str) -> None:
    print(f"[ALERT]    ({os.getpid()}) : {msg}", file=sys.stderr, flush=True)


def warning(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(f"[WARNING]  ({os.getpid()}) : {msg}", file=sys.stderr, flush=True)


def notice(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(f"[NOTICE]   ({os.getpid()}) : {msg}", file=sys.stderr, flush=True)


def verbose_startup(plan: Plan, opts: Any) -> None:
    """What HAProxy prints when it starts with -V or -d: the maxconn it chose when the
    configuration and -n set none, and the polling mechanism (stdout)."""
    if not (getattr(opts, "verbose", False) or getattr(opts, "debug", False)):
        return
    if not (getattr(opts, "maxconn", None) or plan.config.global_.maxconn):
        print(f"Note: setting global.maxconn to {plan.maxconn}.", file=sys.stderr)
    print("Available polling systems :\n      epoll : test result OK\nTotal: 1 (1 usable), will use epoll.\n",
          file=sys.stderr, flush=True)
    print("Using epoll() as the polling mechanism.", flush=True)


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
        # -- fastlb.runtime.daemon: identity of the workers, readiness --------------------------
        self.worker_identity: Identity | None = None  # applied in each worker (master-worker mode)
        self._unready: set[int] = set(range(plan.nbworkers))  # worker indexes not serving yet
        self._ready_callbacks: list[Callable[[], None]] = []
        self._ready_pipes: dict[int, int] = {}  # pid -> read end of the worker's ready pipe
        self._spawned_at: dict[int, float] = {}  # worker index -> monotonic time of its last fork
        self._respawn_delay: dict[int, float] = {}

    # -- workers -------------------------------------------------------------------------------

    def spawn(self, index: int) -> int:
        r, w = os.pipe()
        self.control_hub.new_pair(index)  # fastlb.api
        ready_r, ready_w = os.pipe()  # fastlb.runtime.daemon: the worker writes once it serves
        # the signals stay blocked in the child until the worker has its own handlers: one
        # arriving earlier would run the master's handler, or stop the process (SIGTTOU)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_SIGNALS)
        pid = os.fork()
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if pid == 0:
            os.close(w)
            os.close(ready_r)
            code = 1
            try:
                from .worker import worker_main

                # -- fastlb.api: drop the master's sockets, keep this worker's command channel
                control_fd = self.control_hub.child_after_fork(index)
                self.prepare_worker(index)  # (runs the services' after_fork_child hooks)
                code = worker_main(self.plan, self.shm, index, self.listeners.fds_for(index), r,
                                   control_fd=control_fd, ready_fd=ready_w,
                                   debug=bool(getattr(self.opts, "debug", False)))
            except BaseException as exc:  # noqa: BLE001 - a worker must never return into the master's code
                alert(f"worker {index} crashed: {exc!r}")
            finally:
                os._exit(code)
        os.close(r)
        if self.loop is not None:
            self.control_hub.parent_after_fork(index, self.loop)  # fastlb.api
        os.close(ready_w)
        self._death_pipes[pid] = w
        self.workers[pid] = index
        self._spawned_at[index] = time.monotonic()
        self._watch(pid)
        self._watch_ready(pid, index, ready_r)
        return pid

    # -- fastlb.runtime.daemon: worker set-up and readiness ------------------------------------

    def prepare_worker(self, index: int) -> None:
        """In a freshly forked worker, before it starts serving: keep only its own listening
        sockets, close the master's services, leave systemd to the master, switch identity."""
        self.listeners.keep_only(index)
        for fd in [*self._death_pipes.values(), *self._ready_pipes.values()]:
            os.close(fd)  # the other workers' pipes: a master death must reach each of them
        self._death_pipes.clear()
        self._ready_pipes.clear()
        for svc in self.services:
            getattr(svc, "after_fork_child", lambda: None)()
        os.environ.pop("NOTIFY_SOCKET", None)
        if self.worker_identity is not None and self.worker_identity.changes:
            apply_identity(self.worker_identity)

    def when_ready(self, callback: Callable[[], None]) -> None:
        """Call `callback` once every worker index has a worker serving (at once if so)."""
        self._ready_callbacks.append(callback)
        self._fire_ready()

    def _watch_ready(self, pid: int, index: int, fd: int) -> None:
        if self.loop is None:
            os.close(fd)
            return
        self._ready_pipes[pid] = fd

        def readable() -> None:
            self.loop.remove_reader(fd)
            try:
                ok = os.read(fd, 1) == b"R"  # EOF: the worker died before serving
            except OSError:
                ok = False
            os.close(fd)
            self._ready_pipes.pop(pid, None)
            if ok and self.workers.get(pid) == index:
                self._unready.discard(index)
                self._fire_ready()

        self.loop.add_reader(fd, readable)

    def _fire_ready(self, stopping: bool = False) -> None:
        """Run the ready callbacks once all workers serve, or when this master stops before
        that: the callbacks tell the previous processes to leave, which they must do even if
        this one is stopped by a newer one while it starts (rapid reloads)."""
        if self._unready and not stopping:
            return
        callbacks, self._ready_callbacks = self._ready_callbacks, []
        for cb in callbacks:
            try:
                cb()
            except Exception as exc:  # noqa: BLE001 - one callback must not stop the others
                alert(f"start-up callback failed: {exc!r}")

    def on_worker_exit(self, pid: int, index: int, code: int) -> None:
        """A current worker exited (it is respawned unless the master is stopping)."""

    def on_other_child_exit(self, pid: int, code: int) -> None:
        """A child that is not a current worker exited (master-worker mode: an old worker)."""

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

    def _reap_periodically(self) -> None:
        self.reap()
        if self.loop is not None:
            self.loop.call_later(1.0, self._reap_periodically)

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
            code = os.waitstatus_to_exitcode(status)
            rfd = self._ready_pipes.pop(pid, None)
            if rfd is not None and self.loop is not None:
                self.loop.remove_reader(rfd)
                os.close(rfd)
            if index is None:
                self.on_other_child_exit(pid, code)
                continue
            # what it held towards servers' maxconn is free again (the limit is process-wide)
            self.shm.forget_worker(index)
            self.on_worker_exit(pid, index, code)
            if not self.stopping:
                alert(f"Current worker (#{index + 1}, pid {pid}) exited with code {code}: restarting it")
                self._respawn(index)
        if self.loop is not None and self.finished():
            self.loop.stop()

    def _respawn(self, index: int) -> None:
        """Restart a worker that died; one that keeps dying young (within RESPAWN_YOUNG s of
        its start) is restarted after a delay doubling up to RESPAWN_MAX_DELAY s, so that a
        worker failing at start-up does not make the master spin."""
        now = time.monotonic()
        young = now - self._spawned_at.get(index, 0.0) < RESPAWN_YOUNG
        delay = min(RESPAWN_MAX_DELAY, self._respawn_delay.get(index, 0.05) * 2) if young else 0.0
        self._respawn_delay[index] = delay or 0.05
        if delay and self.loop is not None:
            self.loop.call_later(delay, self._respawn_later, index)
        else:
            self.spawn(index)

    def _respawn_later(self, index: int) -> None:
        if not self.stopping and index not in self.workers.values():
            self.spawn(index)

    def finished(self) -> bool:
        """Whether the master's job is over (stopping, and every child it waits for is gone)."""
        return self.stopping and not self.workers

    def signal_workers(self, sig: int) -> None:
        for pid in list(self.workers):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    # -- signals -------------------------------------------------------------------------------

    def on_soft_stop(self) -> None:
        self.stopping = True
        self._fire_ready(stopping=True)
        self.listeners.close()  # the workers keep their own copies until they finish
        self.signal_workers(signal.SIGUSR1)
        self._stop_services()
        hard = self.plan.config.global_.hard_stop_after_ms
        if hard and self.loop is not None:
            self.loop.call_later(hard / 1000.0, self.on_hard_stop_after)
        self.reap()

    def on_hard_stop_after(self) -> None:
        """``hard-stop-after`` expired while streams were still draining."""
        if self.workers:
            warning("soft-stop running for too long, performing a hard-stop.", self.quiet)
            self.on_hard_stop()

    def on_hard_stop(self) -> None:
        self.stopping = True
        self._fire_ready(stopping=True)
        self.signal_workers(signal.SIGTERM)
        self._stop_services()
        self.reap()

    def on_pause(self) -> None:
        """SIGTTOU: every frontend paused, through shared memory (the workers follow within a round)."""
        from .pause import pause_all

        pause_all(self.plan, self.shm, True, self.quiet)

    def on_resume(self) -> None:
        from .pause import pause_all

        pause_all(self.plan, self.shm, False, self.quiet)

    def on_dump_states(self) -> None:
        """SIGHUP: the servers' and proxies' states to stderr, and to each proxy's log targets
        with the line HAProxy sends first for every proxy."""
        from ..health.logsend import emit_log
        from ..logs.syslog import LEVEL

        notice = LEVEL["notice"]
        current = None
        for name, line in sighup_lines(self.plan, self.shm):
            warning(line, self.quiet)
            if name is None:
                continue
            proxy = self.plan.config.proxy(name)
            try:
                if name != current:
                    current = name
                    emit_log(self.plan, notice, f"SIGHUP received, dumping servers states for proxy {name}.",
                             proxy)
                emit_log(self.plan, notice, line, proxy)
            except OSError:
                pass

    def _stop_services(self) -> None:
        for svc in self.services:
            try:
                svc.stop()
            except Exception as exc:  # noqa: BLE001
                warning(f"stopping {svc!r}: {exc}")
        self.services = []

    # -- main ----------------------------------------------------------------------------------

    def starting(self) -> None:
        """Hook: the event loop exists, the workers are about to be forked."""

    def signal_handlers(self) -> dict[int, Callable[[], None]]:
        return {
            signal.SIGUSR1: self.on_soft_stop,
            signal.SIGTERM: self.on_hard_stop,
            signal.SIGINT: self.on_hard_stop,
            signal.SIGTTOU: self.on_pause,
            signal.SIGTTIN: self.on_resume,
            signal.SIGHUP: self.on_dump_states,
        }

    def run(self) -> int:
        import uvloop

        self.loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self.loop)
        loop = self.loop
        handlers = self.signal_handlers()
        # pending until the handlers exist (a re-executed master arrives with them blocked)
        signal.pthread_sigmask(signal.SIG_BLOCK, handlers)
        self.starting()
        for i in range(self.plan.nbworkers):
            self.spawn(i)
        for sig, handler in handlers.items():
            loop.add_signal_handler(sig, handler)
        # unblocked from inside the running loop: uvloop reads signals from a wakeup descriptor
        # that run_forever() sets up; one delivered before would be lost
        loop.call_soon(signal.pthread_sigmask, signal.SIG_UNBLOCK, handlers)
        for svc in self.services:
            svc.start(loop)
        self.reap()  # a worker may have died before the handler was installed
        if os.getpid() == 1:  # a container's init: orphans are re-parented here, reap them too
            self._reap_periodically()
        try:
            loop.run_forever()
        finally:
            self.listeners.close()
            loop.close()
        return self.exit_code


def check_rules(plan: Plan, quiet: bool = False) -> None:
    """Compile the routing rules once in the master, so that a rule the engine cannot run is
    reported before any worker starts (workers compile their own copy): an error raises, a rule
    left out is a warning."""
    from ..engine._proxy import Worker

    shm = init_shared_state(plan)
    w = Worker(None, plan, shm.mm, 0)
    for msg in w.load_warnings:
        warning(msg, quiet)
    w.shutdown_unstarted()


def old_pids(opts: Any) -> list[int]:
    return list(getattr(opts, "finish_pids", None) or []) + list(getattr(opts, "terminate_pids", None) or [])


def signal_old_pids(opts: Any) -> None:
    """Tell the processes of ``-sf``/``-st`` that this one is in charge: finish (SIGUSR1) or
    terminate (SIGTERM). Called once every worker serves."""
    for pid in getattr(opts, "finish_pids", []) or []:
        _kill(pid, signal.SIGUSR1)
    for pid in getattr(opts, "terminate_pids", []) or []:
        _kill(pid, signal.SIGTERM)


def _kill(pid: int, sig: int) -> None:
    if pid == os.getpid():
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        warning(f"cannot signal old process {pid}: {exc.strerror}")


def take_over_sockets(opts: Any) -> dict | None:
    """The listening sockets of the previous process (``-x``, or the ``-sf``/``-st`` pids);
    None when ``-x`` was given and failed (HAProxy refuses to start then)."""
    try:
        return sockxfer.inherited_listeners(getattr(opts, "socket_transfer", None), old_pids(opts))
    except sockxfer.XferError as exc:
        warning(str(exc))
        alert("Failed to get the sockets from the old process!")
        return None


def run(config: Config, opts: Any) -> int:
    """Start serving `config` (the command line's run path)."""
    mode = run_mode(opts, config.global_)
    if mode.master_worker:
        from .reload import run_master_worker

        return run_master_worker(config, opts, mode)
    quiet = mode.quiet
    try:
        raise_fd_limit(config.global_, getattr(opts, "maxconn", None))
        identity = resolve_identity(config.global_)
        check_identity(identity)
    except StartupError as exc:
        alert(str(exc))
        return 1
    try:
        plan = build_plan(config, maxconn_override=getattr(opts, "maxconn", None),
                          maxpconn=getattr(opts, "maxpconn", None))
    except PlanError as exc:
        alert(f"config : {exc}")
        return 1
    for w in [*plan.warnings, apply_ulimit_n(plan)]:
        if w:
            warning(w, quiet)
    verbose_startup(plan, opts)
    inherited = take_over_sockets(opts)
    if inherited is None:
        return 1
    try:
        listeners = ListenerSet(plan, inherited)
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
    try:
        check_rules(plan, quiet)
        expose_fd = sockxfer.bind_expose_fd_sockets(config.global_)  # -x for the next process
    except OSError as exc:
        alert(f"Starting proxy GLOBAL: cannot bind UNIX socket ({exc.strerror})")
        listeners.close()
        close_bound(stats_sockets)  # fastlb.api
        return 1
    except Exception as exc:  # noqa: BLE001 - any compile failure is a configuration error
        alert(f"config : {exc}")
        listeners.close()
        close_bound(stats_sockets)  # fastlb.api
        return 1
    pidfile = mode.pidfile
    try:
        if mode.daemon:
            daemonize(pidfile)
        elif pidfile:
            write_pidfile(pidfile, [os.getpid()])
    except OSError as exc:
        alert(f"[fastlb.main()] Cannot create pidfile {pidfile}: {exc.strerror}")
        listeners.close()
        close_bound(stats_sockets)  # fastlb.api
        return 1
    exporter = sockxfer.SocketExporter()  # the next -sf/-st process takes the sockets from here
    sockxfer.set_exported(listeners.all_sockets)
    if identity.changes:  # standalone: the whole process, once everything is bound
        try:
            preload_for_chroot()
            apply_identity(identity)
        except StartupError as exc:
            alert(str(exc))
            return 1
    master = Master(plan, listeners, opts)
    master.shm.start_time = int(time.time())
    attach_master_services(master, stats_sockets, quiet)  # fastlb.health + fastlb.api
    master.services.extend([exporter, *expose_fd])
    master.when_ready(lambda: signal_old_pids(opts))
    try:
        return master.run()
    finally:
        remove_pidfile(pidfile, os.getpid())
