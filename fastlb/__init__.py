"""fastlb: an HAProxy-compatible load balancer and reverse proxy."""

from .version import HAPROXY_DIALECT, __version__

__all__ = ["__version__", "HAPROXY_DIALECT"]
