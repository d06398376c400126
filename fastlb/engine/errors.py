"""HTTP error responses produced by the proxy itself, byte for byte as HAProxy 2.6 sends them.

Most come from HAProxy's HTX layer (lower-case header names, the connection kept alive when the
request allows it); 400 and 408 come from its HTTP/1 multiplexer, which writes them with
capitalised names and `Connection: close`. An `errorfile` replaces a page whole.
"""
from __future__ import annotations

from collections.abc import Mapping

_REASONS = {
    200: ("OK", "Service ready."),
    400: ("Bad request", "Your browser sent an invalid request."),
    401: ("Unauthorized", "You need a valid user and password to access this content."),
    403: ("Forbidden", "Request forbidden by administrative rules."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed", "A request was made of a resource using a request method not supported by that resource"),
    407: ("Unauthorized", "You need a valid user and password to access this content."),
    408: ("Request Time-out", "Your browser didn't send a complete request in time."),
    410: ("Gone", "The resource is no longer available and will not be available again."),
    413: ("Payload Too Large", "The request entity exceeds the maximum allowed."),
    425: ("Too Early", "Your browser sent early data."),
    429: ("Too Many Requests", "You have sent too many requests in a given amount of time."),
    500: ("Internal Server Error", "An internal server error occurred."),
    501: ("Not Implemented", "The server does not support the functionality required to fulfill the request."),
    502: ("Bad Gateway", "The server returned an invalid or incomplete response."),
    503: ("Service Unavailable", "No server is available to handle this request."),
    504: ("Gateway Time-out", "The server didn't respond in time."),
}

#: Statuses HAProxy's HTTP/1 layer writes itself (old-style headers, connection closed).
_MUX_STATUSES = frozenset({400, 408, 500, 501})


def default_error(status: int) -> bytes:
    reason, text = _REASONS.get(status, _REASONS[500])
    body = f"<html><body><h1>{status} {reason}</h1>\n{text}\n</body></html>\n".encode()
    if status in _MUX_STATUSES:
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-length: {len(body)}\r\nCache-Control: no-cache\r\n"
                f"Connection: close\r\nContent-Type: text/html\r\n\r\n")
    else:
        head = (f"HTTP/1.1 {status} {reason}\r\ncontent-length: {len(body)}\r\ncache-control: no-cache\r\n"
                f"content-type: text/html\r\n\r\n")
    return head.encode() + body


DEFAULT_ERRORS: dict[int, bytes] = {code: default_error(code) for code in _REASONS}


def error_pages(*errorfiles: Mapping[int, bytes]) -> dict[int, bytes]:
    """The pages of a proxy: defaults overridden by `errorfile`s (later mappings win)."""
    pages = dict(DEFAULT_ERRORS)
    for ef in errorfiles:
        if ef:
            pages.update(ef)
    return pages
