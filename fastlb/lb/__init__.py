"""Python helpers around the balancer of :mod:`fastlb._lb`.

:func:`balance_kwargs` turns the words of HAProxy's ``balance`` and ``hash-type`` lines into the
keyword arguments of :class:`fastlb._lb.Balancer`, with HAProxy's error messages for bad input::

    >>> balance_kwargs("uri len 10 depth 2 whole", "consistent sdbm avalanche")
    {'algorithm': 'uri', 'uri_len': 10, 'uri_depth': 2, 'uri_whole': True, 'hash_type': 'consistent', \
'hash_function': 'sdbm', 'avalanche': True}

:class:`ServerSpec` is a server as the balancer needs it (any object with these attributes works).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import BalanceError, balance_kwargs, hash_type_kwargs, parse_balance, parse_weight_change

__all__ = [
    "BalanceError",
    "ServerSpec",
    "balance_kwargs",
    "hash_type_kwargs",
    "parse_balance",
    "parse_weight_change",
]


@dataclass(frozen=True)
class ServerSpec:
    """A server of a backend, in configuration order. ``id`` None: HAProxy's automatic numbering
    (the lowest free id); ``slowstart`` in milliseconds; ``usable`` False for a server that starts
    in maintenance or down."""

    name: str
    id: int | None = None
    weight: int = 1
    backup: bool = False
    maxconn: int = 0
    maxqueue: int = 0
    slowstart: int = 0
    usable: bool = True
