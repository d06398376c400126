"""A data-plane Worker built from a configuration without sockets or event loop, for
micro-benchmarks and tests of routing (the master's rule check builds the same thing)."""
from __future__ import annotations

from ..config import load_config_text
from ..runtime.plan import build_plan
from ..runtime.shm import init_shared_state


def offline_worker(config_text: str):
    """(worker, shm) for `config_text`; keep `shm` alive as long as the worker."""
    from ._proxy import Worker

    result = load_config_text(config_text)
    if not result.ok:
        raise ValueError(result.report())
    plan = build_plan(result.config, nbworkers=1)
    shm = init_shared_state(plan)
    return Worker(None, plan, shm.mm, 0, stick_tables=shm.stick_tables), shm
