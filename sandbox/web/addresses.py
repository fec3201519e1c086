"""Which hosts ``web_visit`` may connect to: public addresses only, unless the user opts in.

An agent chooses the urls, so without a policy it can make the env read loopback services, the cloud metadata
endpoint or the intranet (server-side request forgery). Every hop's host is resolved and each address is
classified; loopback, private, link-local, multicast, reserved, unspecified and other non-global addresses are
refused, IPv4 and IPv6 alike, with IPv4-mapped / 6to4 / Teredo / NAT64 forms judged by the IPv4 address they
embed. Numeric spellings (``0x7f000001``, ``2130706433``, ``127.1``) resolve to what they mean and are judged
by that. The check happens where the socket is opened (:class:`GuardedBackend`): the connection goes to the very
address that was checked, so a DNS answer that changes between check and connect (rebinding) cannot slip past.

Opt in with ``PRGYM_WEB_ALLOW_PRIVATE=1`` (every address) or a comma list of networks
(``PRGYM_WEB_ALLOW_PRIVATE=10.0.0.0/8,127.0.0.1``), or the :class:`~sandbox.web.fetch.FetchLimits` fields
``allow_private`` / ``allow_networks``.
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore

ALLOW_ENV = "PRGYM_WEB_ALLOW_PRIVATE"
_TRUE = frozenset({"1", "true", "yes", "all", "on"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddressError(OSError):
    """The host resolves to an address the policy refuses; the message names the address and its class."""


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_class(ip: IPAddress) -> str | None:
    """The class that makes ``ip`` non-public (``"loopback"``, ``"private"``, ...), or ``None`` if it is public."""
    embedded = _embedded_v4(ip)
    if embedded is not None:
        return address_class(embedded)
    for name, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if flag:
            return name
    if not ip.is_global:
        return "non-public"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses only, except ``allow_all`` or the ``allowed`` networks."""

    allow_all: bool = False
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default=())

    @classmethod
    def build(
        cls, allow_private: bool = False, allow_networks: Iterable[str] = (), env: Any = None
    ) -> AddressPolicy:
        """The policy of the given settings plus ``$PRGYM_WEB_ALLOW_PRIVATE``."""
        env = os.environ if env is None else env
        raw = str(env.get(ALLOW_ENV, "")).strip()
        networks = list(allow_networks)
        if raw.lower() in _TRUE:
            allow_private = True
        elif raw and raw.lower() not in ("0", "false", "no", "off"):
            networks += [part.strip() for part in raw.split(",") if part.strip()]
        parsed = []
        for net in networks:
            try:
                parsed.append(ipaddress.ip_network(net, strict=False))
            except ValueError as exc:
                raise ValueError(
                    f"{ALLOW_ENV} / allow_networks: {net!r} is not an address or network"
                ) from exc
        return cls(allow_all=allow_private, allowed=tuple(parsed))

    def refusal(self, ip: IPAddress) -> str | None:
        """Why ``ip`` may not be contacted, or ``None`` if it may."""
        if self.allow_all:
            return None
        kind = address_class(ip)
        if kind is None or any(ip in net for net in self.allowed if net.version == ip.version):
            return None
        embedded = _embedded_v4(ip)
        shown = f"{embedded} (embedded in {ip})" if embedded is not None else str(ip)
        article = "an" if kind[0] in "aeiou" else "a"
        return f"{shown} is {article} {kind} address"

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` this policy allows; raises :class:`BlockedAddressError` if none is."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise OSError(f"cannot resolve host {host!r}: {exc}") from exc
        allowed: list[str] = []
        refused: list[str] = []
        for info in infos:
            address = str(info[4][0]).split("%", 1)[0]
            ip = ipaddress.ip_address(address)
            reason = self.refusal(ip)
            if reason is None:
                if address not in allowed:
                    allowed.append(address)
            elif reason not in refused:
                refused.append(reason)
        if refused:  # one bad answer is enough: a host that also points inside is not trusted at all
            raise BlockedAddressError(
                f"refused to connect to {host!r}: {refused[0]}; web_visit reads public addresses only "
                f"(set {ALLOW_ENV}=1 to allow private addresses)"
            )
        if not allowed:
            raise OSError(f"cannot resolve host {host!r}: no addresses")
        return allowed


# The deadline of the fetch running in this context (monotonic seconds), enforced on every socket read.
FETCH_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "prgym_fetch_deadline", default=None
)


def _bounded(timeout: float | None) -> float | None:
    deadline = FETCH_DEADLINE.get()
    if deadline is None:
        return timeout
    remaining = max(0.0, deadline - time.monotonic())
    if remaining <= 0:
        raise httpcore.ReadTimeout("total time limit reached")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write also respects the fetch's total deadline (headers included)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """Opens TCP connections only to addresses the policy allows, connecting to the checked address itself."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        options = None if socket_options is None else list(socket_options)  # reused for every address
        try:
            addresses = self.policy.resolve(host, port)
        except BlockedAddressError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                stream = super().connect_tcp(address, port, _bounded(timeout), local_address, options)
            except httpcore.ConnectError as exc:
                last = exc
                continue
            return _DeadlineStream(stream)
        raise last or httpcore.ConnectError(f"could not connect to {host!r}")
