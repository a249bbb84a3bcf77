"""What a failed connection says, in words: the cause named, not "is the server running?" for everything.

aiohttp (the request path) and httpx (introspection, the openai SDK) wrap the same few causes in their own
exception types; both keep the original (``__cause__``, ``__context__``, aiohttp's ``os_error``), which is
read here: TLS spoken to a plain-HTTP port, an untrusted certificate, plain HTTP sent to a TLS port, a
refused port, a host name that does not resolve.
"""

from __future__ import annotations

import socket
import ssl
from typing import Iterator
from urllib.parse import urlsplit

__all__ = ["connection_problem", "tls_mismatch"]

#: OpenSSL's reasons when the other side does not speak TLS at all
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST", "RECORD_LAYER_FAILURE",
                      "PACKET_LENGTH_TOO_LONG", "TLSV1_ALERT_PROTOCOL_VERSION"})
#: what httpx (h11) and aiohttp raise for an answer that is not HTTP at all
_NOT_HTTP = frozenset({"RemoteProtocolError", "BadStatusLine", "BadHttpMessage"})
#: how the first bytes of a TLS alert or handshake record look when read as an HTTP status line
_TLS_RECORD = ("\\x15\\x03", "\\x16\\x03", "\x15\x03", "\x16\x03")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        each = todo.pop()
        if each is None or id(each) in seen:
            continue
        seen.add(id(each))
        yield each
        todo += [each.__cause__, each.__context__, getattr(each, "os_error", None),
                 *(arg for arg in getattr(each, "args", ()) if isinstance(arg, BaseException))]


def tls_mismatch(url: str, exc: BaseException) -> str | None:
    """The line for a TLS failure no retry fixes (the scheme or the certificate is wrong), else None."""
    parts = urlsplit(url)
    for each in _chain(exc):
        if isinstance(each, ssl.SSLCertVerificationError):
            return (f"{url}: the server's TLS certificate is not trusted ({each.verify_message or each.reason}); "
                    "install its CA in the system store or set SSL_CERT_FILE to it")
        if isinstance(each, ssl.SSLError):
            reason = each.reason or type(each).__name__
            if reason in _NOT_TLS:
                return (f"{url}: TLS handshake failed ({reason}): the server on that port speaks plain HTTP, "
                        f"not HTTPS; use http://{parts.netloc} instead")
            return f"{url}: TLS handshake failed ({reason})"
    if parts.scheme == "http" and any(mark in str(each) for each in _chain(exc) for mark in _TLS_RECORD):
        return (f"{url}: the server answered with a TLS record, not HTTP: it speaks HTTPS on that port; "
                f"use https://{parts.netloc} instead")
    return None


def connection_problem(url: str, exc: BaseException) -> str:
    """One line naming why ``url`` could not be reached."""
    if (problem := tls_mismatch(url, exc)) is not None:
        return problem
    for each in _chain(exc):
        if type(each).__name__ in _NOT_HTTP and "disconnected" in str(each).lower():
            return f"{url}: the server closed the connection without an answer"
        if type(each).__name__ in _NOT_HTTP:
            hint = f"; if it speaks HTTPS on that port, use https://{urlsplit(url).netloc}" if url.startswith("http:") else ""
            return f"{url}: the server answered with something that is not HTTP ({each}){hint}"
        if isinstance(each, ConnectionRefusedError):
            return f"cannot reach {url}: connection refused; is the server running?"
        if isinstance(each, socket.gaierror):
            return f"cannot reach {url}: the host name {urlsplit(url).hostname} does not resolve ({each.strerror})"
    return f"cannot reach {url} ({type(exc).__name__}); is the server running?"
