"""Where the catalog may send requests upstream: the ``base_url`` / origin policy.

An integration instance's ``base_url`` (and every request a connector sends) must be an
``http`` or ``https`` URL with a host, no user-info, and (for a configured base URL) no
query or fragment. The host's addresses, once resolved, must not be link-local or a
cloud-metadata address (169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200, ...):
those are where a cloud instance's own credentials live. Loopback and private addresses
are allowed (self-hosted tenants and the simulators live there).

An operator may narrow this further with ``SERVICE_CATALOG_UPSTREAM_ALLOW``: a list of
CIDRs (``10.0.0.0/8``) and host patterns (``*.traceable.ai``, ``inventory.internal``). A
host then passes only when its name matches a pattern or every address it resolves to is
inside a CIDR; the allow list never lets a metadata address through.

The same checks run when an instance is configured (:func:`check_base_url`) and before
every upstream request (:func:`check_request_url`, called by ``UpstreamHTTP``), because a
name can resolve differently later.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import os
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from service_catalog.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Never an upstream: link-local (where every cloud's metadata service answers) and the
#: metadata addresses that are not link-local.
BLOCKED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local: AWS, GCP, Azure, OCI, DigitalOcean metadata
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud (classic) metadata
        "0.0.0.0/32",  # "this host": not a destination
        "::/128",
    )
)

ALLOWED_SCHEMES = ("http", "https")


class OutboundRefused(ValueError):
    """A URL the catalog will not send a request to; the message says why (no secret)."""


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def origin_of(url: str) -> str:
    """The canonical origin ``scheme://host:port`` of an http(s) URL (host lowercased, the
    default port written out). OutboundRefused when it has no usable scheme or host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise OutboundRefused("must be an http:// or https:// URL")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise OutboundRefused("must name a host")
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port or _default_port(scheme)}"


def _host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url.strip())
    return (
        (parts.hostname or "").lower().rstrip("."),
        parts.port or _default_port(parts.scheme.lower()),
    )


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _normalize(addr: IPAddress) -> IPAddress:
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped or addr.sixtofour
        if mapped is not None:
            return mapped
    return addr


def is_blocked_address(addr: IPAddress) -> bool:
    """True for a link-local or cloud-metadata address (also as IPv4-mapped IPv6)."""
    addr = _normalize(addr)
    return addr.is_link_local or any(
        addr in net for net in BLOCKED_NETWORKS if net.version == addr.version
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (the address itself for a literal); empty when
    the name does not resolve."""
    literal = _literal_ip(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    out: list[IPAddress] = []
    for info in infos:
        addr = _literal_ip(str(info[4][0]))
        if addr is not None and addr not in out:
            out.append(addr)
    return out


@dataclass(frozen=True)
class OutboundPolicy:
    """The metadata block plus the operator's optional allow list (CIDRs, host patterns)."""

    networks: tuple[IPNetwork, ...] = ()
    patterns: tuple[str, ...] = ()
    narrowed: bool = False

    @classmethod
    def from_entries(cls, entries: Iterable[str] | None) -> OutboundPolicy:
        """A policy from ``SERVICE_CATALOG_UPSTREAM_ALLOW`` entries (ValueError for a bad
        one); no entries: every host but the blocked addresses."""
        networks: list[IPNetwork] = []
        patterns: list[str] = []
        given = [e.strip() for e in entries or () if e and e.strip()]
        for entry in given:
            parsed = parse_allow_entry(entry)
            if isinstance(parsed, str):
                patterns.append(parsed)
            else:
                networks.append(parsed)
        return cls(networks=tuple(networks), patterns=tuple(patterns), narrowed=bool(given))

    def _host_allowed(self, host: str, addresses: Sequence[IPAddress]) -> bool:
        if not self.narrowed:
            return True
        if any(fnmatch.fnmatchcase(host, p) for p in self.patterns):
            return True
        return bool(addresses) and all(
            any(
                _normalize(a) in net
                for net in self.networks
                if net.version == _normalize(a).version
            )
            for a in addresses
        )

    def check_host(self, host: str, port: int, *, must_resolve: bool) -> None:
        """Refuse a host that resolves to a blocked address or is outside the allow list.
        A name that does not resolve passes unless ``must_resolve`` (it cannot be reached
        anyway; it is checked again before each request)."""
        addresses = resolve(host, port)
        blocked = [a for a in addresses if is_blocked_address(a)]
        if blocked:
            raise OutboundRefused(
                f"resolves to {blocked[0]}, a link-local or cloud-metadata address; the "
                "catalog never sends requests there"
            )
        if not addresses and must_resolve:
            raise OutboundRefused(f"names a host ({host}) that does not resolve")
        if not self._host_allowed(host, addresses):
            raise OutboundRefused(f"names a host ({host}) outside SERVICE_CATALOG_UPSTREAM_ALLOW")

    def check_base_url(self, url: str) -> str:
        """Check a configured base URL; its canonical origin. OutboundRefused says why."""
        if not isinstance(url, str) or not url.strip():
            raise OutboundRefused("must be an http:// or https:// URL")
        raw = url.strip()
        origin = origin_of(raw)
        parts = urlsplit(raw)
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise OutboundRefused(
                "must not contain user-info (user:password@); put "
                "credentials in the auth credential"
            )
        if parts.query or "?" in raw:
            raise OutboundRefused("must not contain a query string")
        if parts.fragment or "#" in raw:
            raise OutboundRefused("must not contain a fragment")
        if any(ch.isspace() or ord(ch) < 0x20 for ch in raw):
            raise OutboundRefused("must not contain spaces or control characters")
        host, port = _host_and_port(raw)
        self.check_host(host, port, must_resolve=False)
        return origin

    def check_request_url(self, url: str) -> str:
        """Check the URL of a request about to be sent; its canonical origin."""
        origin = origin_of(url)
        parts = urlsplit(url.strip())
        if parts.username is not None or parts.password is not None:
            raise OutboundRefused("must not contain user-info")
        host, port = _host_and_port(url)
        self.check_host(host, port, must_resolve=False)
        return origin


def parse_allow_entry(entry: str) -> IPNetwork | str:
    """One allow-list entry: a CIDR (or a single address) as a network, else a host
    pattern (lowercased; ``*`` and ``?`` wildcards). ValueError for anything else."""
    text = entry.strip()
    if not text:
        raise ValueError("an empty entry")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    pattern = text.lower().rstrip(".")
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-.*?_")
    if not set(pattern) <= allowed or "/" in pattern:
        raise ValueError(
            f"{entry!r} is neither a CIDR (10.0.0.0/8) nor a host pattern (*.example.com)"
        )
    return pattern


def parse_allow_list(value: object) -> list[str]:
    """``SERVICE_CATALOG_UPSTREAM_ALLOW`` as entries: a JSON list, or entries separated by
    commas or spaces. ValueError names a bad entry."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.replace(",", " ").split()
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of CIDRs or host patterns")  # pydantic wants ValueError
    entries = [str(v).strip() for v in value if str(v).strip()]
    for entry in entries:
        parse_allow_entry(entry)
    return entries


_lock = threading.Lock()
_policy: OutboundPolicy | None = None


def configure(settings: Settings | None) -> OutboundPolicy:
    """Install the process's policy from ``settings`` (``upstream_allow``)."""
    global _policy
    entries = getattr(settings, "upstream_allow", None) if settings is not None else None
    policy = OutboundPolicy.from_entries(entries)
    with _lock:
        _policy = policy
    return policy


def current_policy() -> OutboundPolicy:
    """The configured policy; from the environment when none was configured."""
    global _policy
    policy = _policy
    if policy is None:
        # Not configured by create_app (a bare worker or a script): the environment's.
        policy = OutboundPolicy.from_entries(
            parse_allow_list(os.environ.get("SERVICE_CATALOG_UPSTREAM_ALLOW", ""))
        )
        with _lock:
            _policy = policy
    return policy


def check_base_url(url: str) -> str:
    """:meth:`OutboundPolicy.check_base_url` with the process's policy."""
    return current_policy().check_base_url(url)


def check_request_url(url: str) -> str:
    """:meth:`OutboundPolicy.check_request_url` with the process's policy."""
    return current_policy().check_request_url(url)


__all__ = [
    "BLOCKED_NETWORKS",
    "OutboundPolicy",
    "OutboundRefused",
    "check_base_url",
    "check_request_url",
    "configure",
    "current_policy",
    "is_blocked_address",
    "origin_of",
    "parse_allow_entry",
    "parse_allow_list",
    "resolve",
]
