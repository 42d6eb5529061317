"""Outgoing webhooks refuse private, loopback and link-local targets unless allowed, on the resolved address.

Refusals are exercised on loopback addresses only: no test sends anything toward a private range; those
ranges are checked through the classification itself.
"""

from __future__ import annotations

import ipaddress

import pytest

from providers.base import PermanentDeliveryError
from providers.egress import Allowlist, is_public, vet


@pytest.mark.parametrize("address", ["10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "169.254.169.254",
                                     "0.0.0.0", "100.64.0.1", "224.0.0.1", "::1", "fe80::1", "fc00::1",
                                     "::ffff:10.0.0.1", "::ffff:127.0.0.1"])
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [
    "64:ff9b::a00:1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::808:808",  # NAT64 well-known prefix
    "64:ff9b:1::a00:1", "64:ff9b:1:ffff::1",                                         # NAT64 local-use prefix
    "2002:a00:1::1", "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:808:808::1",         # 6to4
    "2001:0:4136:e378:8000:63bf:f5ff:fffe", "2001::a00:1",                            # Teredo
    "fec0::1", "feff:ffff::1",                                                        # site-local
    "::10.0.0.1", "::127.0.0.1", "::169.254.169.254",                                 # IPv4-compatible
    "::ffff:0:10.0.0.1", "::ffff:0:127.0.0.1",                                        # IPv4-translated
    "::ffff:169.254.169.254", "::ffff:100.64.0.1",                                    # IPv4-mapped
])
def test_tunnelled_translated_and_site_local_ipv6_is_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


def test_the_allowlist_can_still_permit_a_translated_range() -> None:
    allow = Allowlist.parse("64:ff9b::/96")
    assert allow.permits("x", ipaddress.ip_address("64:ff9b::a00:1"))
    assert not allow.permits("x", ipaddress.ip_address("2002:a00:1::1"))


async def test_a_nat64_literal_is_refused_before_any_connection() -> None:
    with pytest.raises(PermanentDeliveryError, match=r"64:ff9b::7f00:1.*HERALD_WEBHOOK_ALLOWED_HOSTS"):
        await vet("http://[64:ff9b::7f00:1]:9/hook", Allowlist.parse(""))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "2001:4860:4860::8888",
                                     "2a00:1450:4001::200e", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_the_allowlist_takes_hosts_and_cidrs() -> None:
    allow = Allowlist.parse("hooks.internal, 10.1.0.0/16 ,127.0.0.1")
    assert allow.permits("HOOKS.internal", ipaddress.ip_address("10.9.9.9"))
    assert allow.permits("x", ipaddress.ip_address("10.1.200.3"))
    assert allow.permits("x", ipaddress.ip_address("127.0.0.1"))
    assert not allow.permits("x", ipaddress.ip_address("10.2.0.1"))
    assert not allow.permits("x", ipaddress.ip_address("127.0.0.2"))


async def test_a_loopback_target_is_refused_before_any_connection() -> None:
    with pytest.raises(PermanentDeliveryError, match=r"127\.0\.0\.2.*HERALD_WEBHOOK_ALLOWED_HOSTS"):
        await vet("http://127.0.0.2:9/hook", Allowlist.parse(""))


async def test_a_name_is_judged_by_what_it_resolves_to() -> None:
    with pytest.raises(PermanentDeliveryError, match="refused to send to 'localhost'"):
        await vet("http://localhost:9/hook", Allowlist.parse(""))
    target = await vet("http://localhost:9/hook?x=1", Allowlist.parse("localhost"))
    assert target.host_header == "localhost:9" and target.hostname == "localhost"
    assert target.url in ("http://127.0.0.1:9/hook?x=1", "http://[::1]:9/hook?x=1")


async def test_only_http_urls() -> None:
    for url in ("ftp://example.com/x", "file:///etc/passwd", "http:///nohost"):
        with pytest.raises(PermanentDeliveryError, match="not an http"):
            await vet(url, Allowlist.parse(""))
