"""Fixtures for the engine tests (defined in enginelib, shared with other test folders)."""
from enginelib import backends, run_cfg, run_model  # noqa: F401
from refproxy import proxy_impl  # noqa: F401
from tcpprobe import tcp_proxy  # noqa: F401
