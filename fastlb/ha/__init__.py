"""fastlb's high-availability speaker: VRRP (RFC 3768 v2, RFC 5798 v3) driven by keepalived.conf.

``fastlb-ha -f keepalived.conf`` (or ``fastlb ha -f ...``) reads keepalived's configuration language and
speaks VRRP on the wire with real keepalived nodes, so a pair can be migrated one node at a time.
The package is pure Python (asyncio, raw sockets, rtnetlink built with ``struct``); it does not depend on
the rest of fastlb.
"""
