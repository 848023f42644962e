"""Refuse every network connection that would leave this machine.

`install()` patches `socket.socket.connect`, `connect_ex` and `sendto` (which
every client library, asyncio included, ends up calling) and `socket.getaddrinfo`
(so a real host name fails at once instead of waiting on DNS). Loopback
addresses (127.0.0.0/8, ::1, ::ffff:127.x) and `localhost` pass; so do Unix
sockets. A refused attempt raises `NetworkBlockedError` and is listed in
`blocked`, so a test can fail loudly even if the code under test swallows the
error.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

__all__ = ["NetworkBlockedError", "blocked", "install", "installed", "is_loopback", "uninstall"]

blocked: list[str] = []

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_sendto = socket.socket.sendto
_getaddrinfo = socket.getaddrinfo
_installed = False


class NetworkBlockedError(ConnectionRefusedError):
    """A connection to a non-loopback address was attempted during the tests."""


def is_loopback(host: str | bytes | None) -> bool:
    if host is None:
        return False
    name = _bare(host).lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def install() -> None:
    """Start refusing non-loopback connections (idempotent)."""
    global _installed
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign, assignment]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign, assignment]
    socket.socket.sendto = _guarded_sendto  # type: ignore[method-assign, assignment]
    socket.getaddrinfo = _guarded_getaddrinfo
    _installed = True


def uninstall() -> None:
    """Restore the original socket functions (idempotent)."""
    global _installed
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = _sendto  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo
    _installed = False


def installed() -> bool:
    return _installed


def _bare(host: str | bytes) -> str:
    """The address without brackets or an IPv6 zone: "[fe80::1%eth0]" -> "fe80::1"."""
    text = host.decode() if isinstance(host, bytes) else host
    return text.strip("[]").split("%")[0]


def _is_ip_literal(host: str | bytes) -> bool:
    try:
        ipaddress.ip_address(_bare(host))
    except ValueError:
        return False
    return True


def _refuse(target: str) -> NetworkBlockedError:
    blocked.append(target)
    return NetworkBlockedError(f"netguard: connection to {target} refused; tests may only use loopback")


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
        raise _refuse(f"{address[0]}:{address[1]}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    _connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _connect_ex(self, address)


def _guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
    _check(self, args[-1])
    return _sendto(self, data, *args)


def _guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if host not in (None, "", b"") and not is_loopback(host) and not _is_ip_literal(host):
        raise _refuse(f"{host!r} (name lookup)")
    return _getaddrinfo(host, port, *args, **kwargs)
