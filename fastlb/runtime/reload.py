"""Master-worker mode (``-W``, ``-Ws``, ``master-worker``): a master that stays, and reloads by
re-executing itself.

On SIGUSR2 or ``reload`` on the master CLI, the master
  1. loads the configuration files again and builds their plan: if that fails it says so
     ("Loading failure!"), counts a failed reload and keeps running as it is;
  2. re-executes itself (same pid, same command line minus ``-sf``/``-st``/``-x``/``-C``) with
     its listening sockets, master CLI sockets and the death pipes of its workers left open
     across exec(), and their numbers in $FASTLB_MWORKER_STATE;
  3. the new image takes those very sockets (accept queues intact), forks the new workers and,
     once they all serve, sends SIGUSR1 to the previous workers, which stop accepting and finish
     their streams; ``hard-stop-after`` (of the configuration they run) bounds that.
If the new image cannot start (a bind error, say), it keeps the previous workers and waits
("wait mode", HAProxy's ``master[ReloadFailed]``) until the next reload or stop.

Signals to the master: USR2 reload; USR1 soft stop of every worker (the master leaves once
they are all gone); TERM/INT hard stop; TTOU/TTIN pause/resume the workers' listeners; HUP dumps
the servers' states. Signals are blocked across exec() so that one arriving while the new image
starts is not fatal; it is handled once the new image is ready for it.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..config.model import Config
from ..version import __version__
from . import sockxfer
from .daemon import (
    RunMode,
    StartupError,
    apply_ulimit_n,
    check_identity,
    daemonize,
    preload_for_chroot,
    raise_fd_limit,
    remove_pidfile,
    resolve_identity,
    sd_notify,
    sd_reloading,
    write_pidfile,
)
from .listeners import BindError, ListenerSet
from .mcli import CliBindError, MasterCLI, MasterCliSpec, bind_spec, parse_spec
from .plan import PlanError, build_plan
from .process import (
    Master,
    alert,
    check_rules,
    notice,
    signal_old_pids,
    take_over_sockets,
    verbose_startup,
    warning,
)

ENV_STATE = "FASTLB_MWORKER_STATE"
#: Signals blocked from just before exec() until the new image handles them.
RELOAD_SIGNALS = {signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                  signal.SIGTTOU, signal.SIGTTIN}


@dataclass
class ProcInfo:
    """A worker as ``show proc`` lists it."""

    pid: int
    started: float = field(default_factory=time.time)
    reloads: int = 0
    version: str = __version__
    leaving: bool = False
    hard_stop_ms: int | None = None  # hard-stop-after of the configuration it runs
    hard_stop_at: float | None = None  # time.monotonic() deadline once leaving (survives exec)
    death_fd: int | None = None  # the master's end of the worker's death pipe


@dataclass
class MworkerState:
    """What a master passes to its next image through exec()."""

    started: float
    reloads: int = 0
    failed: int = 0
    listeners: dict[str, list[int]] = field(default_factory=dict)  # address key -> fds
    mcli: list[tuple[str, int]] = field(default_factory=list)  # (-S text, fd)
    procs: list[ProcInfo] = field(default_factory=list)

    def to_env(self) -> str:
        d = asdict(self)
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_env(cls, text: str) -> MworkerState:
        d = json.loads(text)
        return cls(
            started=float(d["started"]), reloads=int(d["reloads"]), failed=int(d["failed"]),
            listeners={k: [int(x) for x in v] for k, v in d["listeners"].items()},
            mcli=[(str(t), int(fd)) for t, fd in d["mcli"]],
            procs=[ProcInfo(**p) for p in d["procs"]],
        )

    def sockets(self) -> dict[str, list[socket.socket]]:
        out: dict[str, list[socket.socket]] = {}
        for key, fds in self.listeners.items():
            socks = []
            for fd in fds:
                try:
                    s = socket.socket(fileno=fd)
                except OSError:
                    continue
                s.set_inheritable(False)
                socks.append(s)
            out[key] = socks
        return out


def take_state() -> MworkerState | None:
    """The state left by the previous image of this master, if this is a re-execution."""
    text = os.environ.pop(ENV_STATE, None)
    if not text:
        return None
    try:
        return MworkerState.from_env(text)
    except (ValueError, KeyError, TypeError):
        alert("master-worker: unreadable state from the previous process, starting afresh")
        return None


def reexec_argv() -> list[str]:
    """The command line to re-execute: the interpreter's own options and this program's
    arguments, without what only made sense once (``-sf``/``-st`` pids, ``-x``, ``-C``)."""
    args = sys.argv[1:]
    prefix = list(sys.orig_argv[:len(sys.orig_argv) - len(args)]) if hasattr(sys, "orig_argv") else [sys.executable]
    if not prefix:
        prefix = [sys.executable, "-m", "fastlb"]
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-sf", "-st"):
            i += 1
            while i < len(args) and not args[i].startswith("-"):
                i += 1
            continue
        if a in ("-x", "-C"):
            i += 2
            continue
        if a == "--":
            out.extend(args[i:])
            break
        out.append(a)
        i += 1
    return [sys.executable, *prefix[1:], *out]


def _block_reload_signals() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, RELOAD_SIGNALS)


def _unblock_reload_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, RELOAD_SIGNALS)


class ReloadControl:
    """Counters and the re-exec procedure shared by the live master and the wait mode."""

    def __init__(self, opts: Any, mode: RunMode, state: MworkerState | None):
        self.opts = opts
        self.mode = mode
        self.started = state.started if state else time.time()
        self.reloads = state.reloads if state else 0
        self.failed_reloads = state.failed if state else 0
        self.reloading = False
        self.mcli: MasterCLI | None = None

    def validate(self) -> bool:
        """Load and plan the configuration files as the new image will; report and count a
        failure. The master keeps running as it is when this says no."""
        from ..config import load_config

        result = load_config(list(getattr(self.opts, "config_files", []) or []))
        ok = result.ok
        if not ok:  # the warnings of a good one are printed by the new image
            print(result.report(quiet=self.mode.quiet), file=sys.stderr, flush=True)
        if ok:
            try:
                build_plan(result.config, maxconn_override=getattr(self.opts, "maxconn", None),
                           maxpconn=getattr(self.opts, "maxpconn", None))
            except PlanError as exc:
                alert(f"config : {exc}")
                ok = False
        return ok

    def reexec(self, listeners: dict[str, list[socket.socket]], procs: list[ProcInfo],
               failed_hook: Any) -> None:
        """exec() the next image with `listeners` and `procs` handed over. Returns only when
        exec() failed (after `failed_hook()`)."""
        state = MworkerState(
            started=self.started, reloads=self.reloads + 1, failed=self.failed_reloads,
            listeners={k: [s.fileno() for s in v if s.fileno() >= 0] for k, v in listeners.items()},
            mcli=[(spec.text, sock.fileno()) for spec, sock in (self.mcli.sockets() if self.mcli else [])],
            procs=[ProcInfo(**{**asdict(p), "reloads": p.reloads + 1}) for p in procs],
        )
        keep = [fd for fds in state.listeners.values() for fd in fds]
        keep += [fd for _t, fd in state.mcli]
        keep += [p.death_fd for p in state.procs if p.death_fd is not None]
        for fd in keep:
            os.set_inheritable(fd, True)
        os.environ[ENV_STATE] = state.to_env()
        argv = reexec_argv()
        sys.stdout.flush()
        sys.stderr.flush()
        _block_reload_signals()
        try:
            os.execv(argv[0], argv)
        except OSError as exc:
            _unblock_reload_signals()
            os.environ.pop(ENV_STATE, None)
            for fd in keep:
                try:
                    os.set_inheritable(fd, False)
                except OSError:
                    pass
            alert(f"master-worker: cannot re-execute {argv[0]}: {exc.strerror}")
            failed_hook()


class MasterWorker(Master):
    """The master of master-worker mode (see the module's docstring)."""

    def __init__(self, plan: Any, listeners: ListenerSet, opts: Any, mode: RunMode, ctl: ReloadControl,
                 old: list[ProcInfo]):
        super().__init__(plan, listeners, opts)
        self.mode = mode
        self.ctl = ctl
        self.procs: dict[int, ProcInfo] = {}  # current workers
        self.old: dict[int, ProcInfo] = {p.pid: p for p in old}  # previous images' workers
        self.first_start = not old

    # -- ProcessView for the master CLI ------------------------------------------------------------

    @property
    def reloads(self) -> int:
        return self.ctl.reloads

    @property
    def failed_reloads(self) -> int:
        return self.ctl.failed_reloads

    @property
    def started(self) -> float:
        return self.ctl.started

    def process_rows(self) -> tuple[list[ProcInfo], list[ProcInfo]]:
        current = sorted(self.procs.values(), key=lambda p: self.workers.get(p.pid, 0))
        pending = [p for p in self.old.values() if not p.leaving]  # still serving until ours are ready
        return current + pending, [p for p in self.old.values() if p.leaving]

    def request_reload(self) -> None:
        if self.loop is not None:
            self.loop.call_soon(self.on_reload)

    # -- workers -------------------------------------------------------------------------------

    def spawn(self, index: int) -> int:
        pid = super().spawn(index)
        self.procs[pid] = ProcInfo(pid=pid, hard_stop_ms=self.plan.config.global_.hard_stop_after_ms,
                                   death_fd=self._death_pipes.get(pid))
        notice(f"New worker ({pid}) forked", self.quiet)
        return pid

    def on_worker_exit(self, pid: int, index: int, code: int) -> None:
        self.procs.pop(pid, None)
        code = _exit_code(code)
        status = _status_text(code)
        if self.stopping:
            if code < 128:
                warning(f"Current worker ({pid}) exited with code {code} ({status})", self.quiet)
            else:
                alert(f"Current worker ({pid}) exited with code {code} ({status})")

    def on_other_child_exit(self, pid: int, code: int) -> None:
        code = _exit_code(code)
        p = self.old.pop(pid, None)
        if p is None:
            warning(f"Process {pid} exited with code {code} ({_status_text(code)})", self.quiet)
            return
        if p.death_fd is not None:
            try:
                os.close(p.death_fd)
            except OSError:
                pass
        warning(f"Former worker ({pid}) exited with code {code} ({_status_text(code)})", self.quiet)

    def prepare_worker(self, index: int) -> None:
        for p in self.old.values():  # the previous workers' death pipes stay the master's
            if p.death_fd is not None:
                os.close(p.death_fd)
        super().prepare_worker(index)

    def finished(self) -> bool:
        return self.stopping and not self.workers and not self.old

    def _watch_old(self) -> None:
        for p in self.old.values():
            self._watch(p.pid)
            if p.leaving:  # retired by a previous image: its deadline still holds
                _schedule_hard_stop(self.loop, p, self._hard_stop_old)

    def retire_old(self) -> None:
        """Our workers all serve: the previous ones finish their streams and leave, within the
        hard-stop-after of the configuration they run."""
        for p in self.old.values():
            if p.leaving:
                continue
            p.leaving = True
            _signal(p.pid, signal.SIGUSR1)
            if p.hard_stop_ms:
                p.hard_stop_at = time.monotonic() + p.hard_stop_ms / 1000.0
                _schedule_hard_stop(self.loop, p, self._hard_stop_old)

    def _hard_stop_old(self, pid: int) -> None:
        if pid in self.old:
            warning(f"Former worker ({pid}) still running after hard-stop-after: performing a hard-stop.",
                    self.quiet)
            _signal(pid, signal.SIGTERM)

    def on_ready(self) -> None:
        if self.first_start:
            signal_old_pids(self.opts)
        if self.stopping:  # stopped while starting: on_soft_stop/on_hard_stop handle the rest
            return
        notice("Loading success.", self.quiet)
        self.retire_old()
        if self.mode.systemd:
            sd_notify("READY=1")

    # -- signals -------------------------------------------------------------------------------

    def signal_handlers(self) -> dict:
        handlers = super().signal_handlers()
        handlers[signal.SIGUSR2] = self.on_reload
        return handlers

    def _all_pids(self) -> list[int]:
        return list(self.workers) + list(self.old)

    def on_soft_stop(self) -> None:
        if self.mode.systemd:
            sd_notify("STOPPING=1")
        for p in self.old.values():
            p.leaving = True
            _signal(p.pid, signal.SIGUSR1)
        super().on_soft_stop()

    def on_hard_stop(self) -> None:
        warning("Exiting Master process...", self.quiet)
        if self.mode.systemd:
            sd_notify("STOPPING=1")
        for pid in list(self.old):
            _signal(pid, signal.SIGTERM)
        super().on_hard_stop()

    def on_pause(self) -> None:
        super().on_pause()
        for pid in self.old:  # workers of a previous image: their own shared memory
            _signal(pid, signal.SIGTTOU)

    def on_resume(self) -> None:
        super().on_resume()
        for pid in self.old:
            _signal(pid, signal.SIGTTIN)

    def on_reload(self) -> None:
        if self.stopping or self.ctl.reloading:
            return
        notice("Reloading fastlb", self.quiet)
        if self.mode.systemd:
            sd_reloading()
        if not self.ctl.validate():
            self._reload_failed()
            return
        self.ctl.reloading = True
        procs = list(self.procs.values()) + list(self.old.values())
        for p in procs:
            p.death_fd = self._death_pipes.get(p.pid, p.death_fd)
        self.ctl.reexec(self.listeners.by_address(), procs, self._reload_failed)
        self.ctl.reloading = False

    def _reload_failed(self) -> None:
        warning("Loading failure!", self.quiet)
        self.ctl.reloads += 1
        self.ctl.failed_reloads += 1
        for p in list(self.procs.values()) + list(self.old.values()):
            p.reloads += 1
        if self.mode.systemd:
            sd_notify("READY=1\nSTATUS=Reload failed: still running the previous configuration")

    def starting(self) -> None:
        self._watch_old()
        self.when_ready(self.on_ready)

    def run(self) -> int:
        code = super().run()
        warning(f"All workers exited. Exiting... ({code})", self.quiet)
        return code


def _exit_code(code: int) -> int:
    """HAProxy's exit status of a child: 128 + the signal that killed it (Python says -signal)."""
    return 128 - code if code < 0 else code


def _schedule_hard_stop(loop: asyncio.AbstractEventLoop | None, p: ProcInfo, cb: Any) -> None:
    if loop is not None and p.hard_stop_at is not None:
        loop.call_later(max(0.0, p.hard_stop_at - time.monotonic()), cb, p.pid)


def _status_text(code: int) -> str:
    if code >= 128:
        try:
            return signal.strsignal(code - 128) or "Unknown"
        except ValueError:
            return "Unknown"
    return "Exit"


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class WaitMode:
    """A master whose new image could not start: it keeps the previous workers (they still
    serve), the listening sockets and the master CLI, and waits for the next reload or a stop."""

    def __init__(self, opts: Any, mode: RunMode, ctl: ReloadControl, state: MworkerState,
                 sockets: dict[str, list[socket.socket]]):
        self.opts = opts
        self.mode = mode
        self.ctl = ctl
        self.quiet = mode.quiet
        self.sockets = sockets
        self.procs = {p.pid: p for p in state.procs}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = False

    reloads = property(lambda self: self.ctl.reloads)
    failed_reloads = property(lambda self: self.ctl.failed_reloads)
    started = property(lambda self: self.ctl.started)

    def process_rows(self) -> tuple[list[ProcInfo], list[ProcInfo]]:
        procs = list(self.procs.values())
        return [p for p in procs if not p.leaving], [p for p in procs if p.leaving]

    def request_reload(self) -> None:
        if self.loop is not None:
            self.loop.call_soon(self.on_reload)

    def on_reload(self) -> None:
        if self.stopping:
            return
        notice("Reloading fastlb", self.quiet)
        if self.mode.systemd:
            sd_reloading()
        if not self.ctl.validate():
            self._failed()
            return
        self.ctl.reexec(self.sockets, list(self.procs.values()), self._failed)

    def _failed(self) -> None:
        warning("Loading failure!", self.quiet)
        self.ctl.reloads += 1
        self.ctl.failed_reloads += 1
        for p in self.procs.values():
            p.reloads += 1
        if self.mode.systemd:
            sd_notify("READY=1\nSTATUS=Reload failed: still running the previous configuration")

    def _forward(self, sig: int) -> None:
        for pid in list(self.procs):
            _signal(pid, sig)

    def _stop(self, sig: int) -> None:
        self.stopping = True
        if sig == signal.SIGTERM:
            warning("Exiting Master process...", self.quiet)
        if self.mode.systemd:
            sd_notify("STOPPING=1")
        self._forward(sig)
        self._check_done()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            p = self.procs.pop(pid, None)
            if p is None:
                continue
            if p.death_fd is not None:
                try:
                    os.close(p.death_fd)
                except OSError:
                    pass
            code = _exit_code(os.waitstatus_to_exitcode(status))
            kind = "Former" if p.leaving else "Current"
            warning(f"{kind} worker ({pid}) exited with code {code} ({_status_text(code)})", self.quiet)
        self._check_done()

    def _hard_stop(self, pid: int) -> None:
        if pid in self.procs:
            warning(f"Former worker ({pid}) still running after hard-stop-after: performing a hard-stop.",
                    self.quiet)
            _signal(pid, signal.SIGTERM)

    def _exited(self, pidfd: int) -> None:
        if self.loop is not None:
            self.loop.remove_reader(pidfd)
        os.close(pidfd)
        self._reap()

    def _check_done(self) -> None:
        if not self.procs and self.loop is not None:
            self.loop.stop()

    def run(self) -> int:
        import uvloop

        self.loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self.loop)
        loop = self.loop
        loop.add_signal_handler(signal.SIGUSR2, self.on_reload)
        loop.add_signal_handler(signal.SIGUSR1, lambda: self._stop(signal.SIGUSR1))
        loop.add_signal_handler(signal.SIGTERM, lambda: self._stop(signal.SIGTERM))
        loop.add_signal_handler(signal.SIGINT, lambda: self._stop(signal.SIGTERM))
        loop.add_signal_handler(signal.SIGTTOU, lambda: self._forward(signal.SIGTTOU))
        loop.add_signal_handler(signal.SIGTTIN, lambda: self._forward(signal.SIGTTIN))
        loop.add_signal_handler(signal.SIGHUP, lambda: warning("SIGHUP: no state to dump in wait mode", self.quiet))
        loop.call_soon(_unblock_reload_signals)  # once run_forever() reads the signals
        for pid in list(self.procs):
            try:
                pfd = os.pidfd_open(pid)
            except OSError:
                continue
            loop.add_reader(pfd, self._exited, pfd)
        for p in self.procs.values():
            if p.leaving:
                _schedule_hard_stop(loop, p, self._hard_stop)
        if self.ctl.mcli is not None:
            self.ctl.mcli.start(loop)
        if self.mode.systemd:
            sd_notify("READY=1\nSTATUS=Reload failed: still running the previous configuration")
        self._reap()
        if self.procs:
            loop.run_forever()
        warning("All workers exited. Exiting... (0)", self.quiet)
        return 0


# -- start-up -------------------------------------------------------------------------------------

def _master_cli(ctl: ReloadControl, opts: Any, state: MworkerState | None, view: Any) -> MasterCLI:
    """Bind the ``-S`` sockets, or take them from the previous image."""
    inherited = {text: fd for text, fd in (state.mcli if state else [])}
    bound: list[tuple[MasterCliSpec, socket.socket]] = []
    try:
        for text in getattr(opts, "master_socket", []) or []:
            spec = parse_spec(text)
            fd = inherited.pop(text, None)
            if fd is not None:
                sock = socket.socket(fileno=fd)
                sock.set_inheritable(False)
            else:
                sock = bind_spec(spec)
            bound.append((spec, sock))
    finally:
        for fd in inherited.values():  # -S options dropped from the command line meanwhile
            try:
                os.close(fd)
            except OSError:
                pass
    return MasterCLI(view, bound)


def after_failed_load(opts: Any) -> int:
    """The configuration could not be loaded (cli.main). A re-executed master keeps its
    previous workers in wait mode; any other start fails (exit status 1)."""
    state = take_state()
    if state is None:
        return 1
    from .daemon import run_mode

    mode = run_mode(opts, _EmptyGlobal())
    return _wait_mode(opts, mode, state, state.sockets())


class _EmptyGlobal:
    """Stands for the global section when the configuration could not be loaded."""

    master_worker = True
    daemon = False
    pidfile = None


def _wait_mode(opts: Any, mode: RunMode, state: MworkerState, sockets: dict[str, list[socket.socket]]) -> int:
    warning("Loading failure!", mode.quiet)
    ctl = ReloadControl(opts, mode, state)
    ctl.failed_reloads += 1
    wm = WaitMode(opts, mode, ctl, state, sockets)
    try:
        ctl.mcli = _master_cli(ctl, opts, state, wm)
    except CliBindError as exc:
        alert(str(exc))
    return wm.run()


def run_master_worker(config: Config, opts: Any, mode: RunMode) -> int:
    """Start (or, after exec(), resume) master-worker mode on `config`."""
    state = take_state()
    previous = state.sockets() if state is not None else {}  # kept for the wait mode

    def failed() -> int:
        if state is None:
            return 1
        return _wait_mode(opts, mode, state, previous)

    quiet = mode.quiet
    try:
        raise_fd_limit(config.global_, getattr(opts, "maxconn", None))
        identity = resolve_identity(config.global_)
        check_identity(identity)
        plan = build_plan(config, maxconn_override=getattr(opts, "maxconn", None),
                          maxpconn=getattr(opts, "maxpconn", None))
    except (StartupError, PlanError) as exc:
        alert(str(exc) if isinstance(exc, StartupError) else f"config : {exc}")
        return failed()
    for w in [*plan.warnings, apply_ulimit_n(plan)]:
        if w:
            warning(w, quiet)
    verbose_startup(plan, opts)
    if state is not None:
        inherited = {k: [s.dup() for s in v] for k, v in previous.items()}
    else:
        taken = take_over_sockets(opts)
        if taken is None:
            return 1
        inherited = taken
    try:
        listeners = ListenerSet(plan, inherited)
    except BindError as exc:
        for line in str(exc).splitlines():
            alert(line)
        alert("[fastlb.main()] Some protocols failed to start their listeners! Exiting.")
        return failed()
    try:
        check_rules(plan)
        expose_fd = sockxfer.bind_expose_fd_sockets(config.global_)  # -x for a later process
    except OSError as exc:
        alert(f"Starting proxy GLOBAL: cannot bind UNIX socket ({exc.strerror})")
        listeners.close()
        return failed()
    except Exception as exc:  # noqa: BLE001 - any compile failure is a configuration error
        alert(f"config : {exc}")
        listeners.close()
        return failed()
    # -- fastlb.api: the stats sockets (runtime API), bound before going to the background
    from ..api import BindError as ApiBindError
    from ..api import attach_master_services, bind_stats_sockets

    try:
        stats_sockets = bind_stats_sockets(config.global_)
    except ApiBindError as exc:
        alert(str(exc))
        listeners.close()
        return failed()
    ctl = ReloadControl(opts, mode, state)
    ctl.failed_reloads = 0
    master = MasterWorker(plan, listeners, opts, mode, ctl, list(state.procs) if state else [])
    try:
        ctl.mcli = _master_cli(ctl, opts, state, master)
    except CliBindError as exc:
        alert(str(exc))
        listeners.close()
        return failed()
    for socks in previous.values():  # the listener set holds its own descriptors now
        for sock in socks:
            sock.close()
    if state is None:
        try:
            if mode.daemon:
                daemonize(mode.pidfile)
            elif mode.pidfile:
                write_pidfile(mode.pidfile, [os.getpid()])
        except OSError as exc:
            alert(f"[fastlb.main()] Cannot create pidfile {mode.pidfile}: {exc.strerror}")
            listeners.close()
            return 1
    if identity.changes:
        preload_for_chroot()
        master.worker_identity = identity
    master.shm.start_time = int(time.time())
    sockxfer.set_exported(listeners.all_sockets)
    attach_master_services(master, stats_sockets, quiet)  # fastlb.health + fastlb.api
    master.services.extend([sockxfer.SocketExporter(), ctl.mcli, *expose_fd])
    try:
        return master.run()
    finally:
        if not ctl.reloading:
            remove_pidfile(mode.pidfile, os.getpid())
