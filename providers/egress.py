"""Where outgoing webhooks may go: public addresses, plus what HERALD_WEBHOOK_ALLOWED_HOSTS permits.

A user-supplied webhook URL is a server-side request forgery risk (a cloud metadata endpoint, an internal
admin port). The host is resolved at send time, every address it resolves to is vetted, and the request
then goes to the vetted address itself, so a DNS answer that changes between check and connect cannot
slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from providers.base import PermanentDeliveryError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Allowlist:
    hosts: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, value: str) -> Allowlist:
        hosts, networks = set(), []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower())
        return cls(frozenset(hosts), tuple(networks))

    def permits(self, host: str, address: Address) -> bool:
        return host.lower() in self.hosts or any(address in network for network in self.networks)


# IPv6 ranges that reach IPv4 hosts or unrouted sites through a translator or tunnel: a NAT64 gateway, a
# 6to4 or Teredo relay or an SIIT translator may forward to any IPv4 address, private ones included, and the
# standard library still calls several of them global. Site-local is deprecated but some routers honour it.
_TRANSLATED: tuple[ipaddress.IPv6Network, ...] = tuple(ipaddress.IPv6Network(n) for n in (
    "64:ff9b::/96",      # NAT64, well-known prefix (RFC 6052)
    "64:ff9b:1::/48",    # NAT64, local-use prefix (RFC 8215)
    "2002::/16",         # 6to4 (RFC 3056)
    "2001::/32",         # Teredo (RFC 4380)
    "::/96",             # IPv4-compatible (RFC 4291, deprecated)
    "::ffff:0:0:0/96",   # IPv4-translated (RFC 2765, SIIT)
    "fec0::/10",         # site-local (RFC 3879, deprecated)
))


def is_public(address: Address) -> bool:
    """False for loopback, private, link-local (cloud metadata), multicast, reserved and unspecified ranges,
    and for IPv6 addresses that tunnel or translate to IPv4 (NAT64, 6to4, Teredo, IPv4-compatible) or are
    site-local: those can lead to a private host whatever the embedded IPv4 address claims."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if any(address in network for network in _TRANSLATED):
            return False
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Target:
    """A vetted destination: connect to `url` (host replaced by the address); `host_header` and `hostname`
    (for TLS SNI and certificate checks) still name the host the user gave."""

    url: str
    host_header: str
    hostname: str


async def vet(url: str, allow: Allowlist) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PermanentDeliveryError(f"webhook: '{url}' is not an http(s) URL")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PermanentDeliveryError(f"webhook: host '{host}' does not resolve: {exc.strerror}") from exc
    except UnicodeError as exc:  # a label IDNA cannot encode (empty, over 63 characters)
        raise PermanentDeliveryError(f"webhook: host '{host}' is not a valid host name") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    refused = [a for a in addresses if not is_public(a) and not allow.permits(host, a)]
    if refused:
        raise PermanentDeliveryError(
            f"webhook: refused to send to '{host}': it resolves to {refused[0]}, not a public address (private, "
            "loopback, link-local, or one that tunnels to IPv4); HERALD_WEBHOOK_ALLOWED_HOSTS can permit it")
    chosen = addresses[0]
    literal = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return Target(url=parts._replace(netloc=netloc).geturl(), host_header=parts.netloc.rpartition("@")[2],
                  hostname=host)
