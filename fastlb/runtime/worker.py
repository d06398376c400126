"""A worker process: its own uvloop, the data plane of fastlb.engine, the listening sockets it
was given, and the signals the master forwards."""
from __future__ import annotations

import asyncio
import os
import signal
import sys

from .plan import Plan


def worker_main(plan: Plan, shm, index: int, listen_fds: list[int], master_pipe: int,
                control_fd: int | None = None, ready_fd: int | None = None, debug: bool = False) -> int:
    import uvloop

    from ..engine._proxy import Worker

    # the wakeup descriptor of the master's event loop came with fork(): a signal must not
    # wake the master instead of this process
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                signal.SIGTTOU, signal.SIGTTIN, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = Worker(loop, plan, shm.mm, index, stick_tables=shm.stick_tables)
    # -- statistics pages and logs (fastlb.stats, fastlb.logs) --------------------------------
    from ..logs import make_log_callback
    from ..stats import install_worker_services

    rates = install_worker_services(worker, plan, shm, loop)
    from ..stats.prometheus import make_prometheus_service

    worker.register_service("prometheus-exporter", make_prometheus_service(plan, shm, rates, worker.info))
    log_cb = make_log_callback(plan, index)
    if log_cb is not None:
        worker.set_log_callback(log_cb)
    from ..logs.logger import frontend_log_options

    for fe_name, opts in frontend_log_options(plan).items():
        worker.set_frontend_log_options(fe_name, **opts)
    # -- end of statistics and logs -------------------------------------------------------------
    if debug:  # -d: HAProxy's trace of every transaction, on stdout as HAProxy writes it
        worker.set_trace_callback(_write_stdout)
    if control_fd is not None:  # fastlb.api: the master's commands (add/del server, show sess)
        from ..api.ipc import WorkerControl

        _control = WorkerControl(loop, worker, control_fd, index)  # replays run-time changes first
    worker.start(listen_fds)

    def soft_stop() -> None:
        if index == 0 and not worker.stopping:
            _report_stopped_proxies(plan, shm)
        worker.soft_stop(loop.stop)

    def hard_stop() -> None:
        worker.hard_stop()
        loop.stop()

    def master_gone() -> None:
        # the master died without telling us (killed): do not serve alone forever
        loop.remove_reader(master_pipe)
        hard_stop()

    loop.add_signal_handler(signal.SIGUSR1, soft_stop)
    loop.add_signal_handler(signal.SIGTERM, hard_stop)
    loop.add_signal_handler(signal.SIGINT, hard_stop)
    def pause(paused: bool) -> None:
        # sent to this worker alone (the master pauses its workers through shared memory)
        from .pause import pause_all

        pause_all(plan, shm, paused)
        worker.apply_shared_state()

    loop.add_signal_handler(signal.SIGTTOU, pause, True)
    loop.add_signal_handler(signal.SIGTTIN, pause, False)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    loop.add_reader(master_pipe, master_gone)
    # fastlb.runtime.daemon: the signals were blocked by the master since fork(); unblocked once
    # the loop runs (uvloop reads signals from its wakeup descriptor, set up by run_forever()),
    # then the master is told this worker serves
    loop.call_soon(_signals_and_ready, ready_fd)
    try:
        loop.run_forever()
    finally:
        worker.shutdown()
    os.close(master_pipe)
    return 0


def _write_stdout(text: str) -> None:
    data = text.encode("utf-8", "surrogateescape")
    while data:
        data = data[os.write(1, data):]


def _signals_and_ready(ready_fd: int | None) -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    if ready_fd is not None:
        try:
            os.write(ready_fd, b"R")
        except OSError:  # that master re-executed itself meanwhile: its successor does not ask
            pass
        os.close(ready_fd)


def _report_stopped_proxies(plan: Plan, shm) -> None:
    """HAProxy's "Proxy <name> stopped (cumulated conns: ...)" lines of a soft stop, to stderr
    and to the global log targets (once per process group: from worker 0)."""
    from ..logs import emit_log
    from .statedump import stopped_lines

    for line in stopped_lines(plan, shm):
        print(f"[WARNING]  ({os.getpid()}) : {line}", file=sys.stderr, flush=True)
        try:
            emit_log(plan, "warning", line)
        except OSError:
            pass
