"""Version of fastlb and of the HAProxy configuration dialect it implements."""

__version__ = "0.1.0"
#: HAProxy version whose configuration language, command line and behaviour fastlb follows.
HAPROXY_DIALECT = "2.6"
RELEASE_DATE = "2026/11/24"
