"""What the configuration checks ask the machine: interfaces and their kind."""
from __future__ import annotations

import socket

ARPHRD_LOOPBACK = 772


def interface_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


def is_loopback(name: str) -> bool:
    try:
        with open(f"/sys/class/net/{name}/type", encoding="ascii") as f:
            return int(f.read().strip()) == ARPHRD_LOOPBACK
    except (OSError, ValueError):
        return False
