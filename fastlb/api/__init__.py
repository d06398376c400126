"""The runtime API (``stats socket``) and the master <-> worker command channel.

Wiring used by fastlb.runtime.process:

* ``bind_stats_sockets(config.global_)`` before daemonizing (a bind error stops the start);
* ``ControlHub`` in the Master: ``new_pair()`` before each fork, ``child_after_fork()`` in the
  worker (which then serves ``WorkerControl``), ``parent_after_fork()`` in the master;
* ``attach_master_services(master, bound, quiet)`` once the Master exists: health checks and the
  stats socket become master services (start(loop)/stop()).
"""
from __future__ import annotations

from typing import Any

from .cli import BindError, bind_stats_sockets, build_api, close_bound
from .ipc import ControlHub, WorkerControl

__all__ = ["BindError", "ControlHub", "WorkerControl", "attach_master_services", "bind_stats_sockets",
           "close_bound"]


def attach_master_services(master: Any, bound: list, quiet: bool = False) -> Any:
    """Create the health-check runtime and the stats socket service of ``master`` and register
    them as its services. Returns the API context (tests and debugging)."""
    from ..health import HealthRuntime

    health = HealthRuntime(master.plan, master.shm, quiet=quiet)
    ctx, stats = build_api(master.plan, master.shm, health, master.control_hub, bound,
                           stopping=lambda: bool(master.stopping))
    master.services.extend([health, stats])
    return ctx
