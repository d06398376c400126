"""Statistics: HAProxy 2.6's stats page (HTML, ``;csv``, ``;json``), its Prometheus exporter, and
the row builder shared with the runtime API (``show stat``).

Interfaces:
  collect.stat_rows(plan, shm, rates=None, scope=None, legends=False) -> list[StatRow]
  export.render_csv(rows) / export.render_json(rows) -> str
  prometheus.make_prometheus_service(plan, shm) -> callable(request: dict) -> bytes
  install_worker_services(worker, plan, shm, loop) -> None   (called by runtime/worker.py)
"""
from __future__ import annotations

from typing import Any

from .collect import RateTracker, StatRow, stat_rows
from .export import render_csv, render_json

__all__ = ["RateTracker", "StatRow", "install_worker_services", "render_csv", "render_json", "stat_rows"]

#: Seconds between two samples of the counters rates are made of.
RATE_SAMPLE_INTERVAL = 1.0


def install_worker_services(worker: Any, plan: Any, shm: Any, loop: Any) -> RateTracker | None:
    """Serve the statistics pages of `plan` from this worker and keep its rate samples. Does
    nothing (no timer either) when no proxy has ``stats enable``."""
    from .page import install_stats_pages
    from .prometheus import make_prometheus_service

    rates = RateTracker()
    served = install_stats_pages(worker, plan, shm, rates, lambda: make_prometheus_service(plan, shm, rates, worker.info))
    if not served:
        return None

    def sample() -> None:
        try:
            rates.sample_all(plan, shm)
        finally:
            loop.call_later(RATE_SAMPLE_INTERVAL, sample)

    loop.call_soon(sample)
    return rates
