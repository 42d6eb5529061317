"""Which providers serve which channel, in failover order, built once per worker from settings."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
import httpx

from core.models import Channel
from core.secrets import webhook_secret
from core.settings import Settings
from providers.base import Provider
from providers.egress import Allowlist
from providers.http_gateway import HttpGatewayProvider, push_payload, sms_payload, webhook_payload
from providers.in_app import InAppProvider
from providers.sim import SimProvider
from providers.smtp import SmtpConfig, SmtpProvider


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def smtp_relays(settings: Settings) -> list[tuple[str, int]]:
    relays = [(settings.smtp_host, settings.smtp_port)]
    for item in _split(settings.smtp_fallbacks):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"HERALD_SMTP_FALLBACKS: '{item}' is not host:port")
        relays.append((host, int(port)))
    return relays


def _gateway_urls(primary: str | None, fallbacks: str) -> list[str]:
    return [primary, *_split(fallbacks)] if primary else []


def _names(base: str, count: int) -> list[str]:
    return [base] + [f"{base}-fallback-{i}" for i in range(1, count)]


def chain_names(settings: Settings) -> dict[str, list[str]]:
    """Provider names per channel, primary first. A channel absent here is not available."""
    chains = {
        Channel.EMAIL.value: _names("smtp", len(smtp_relays(settings))),
        Channel.WEBHOOK.value: ["webhook"],
        Channel.IN_APP.value: ["in_app"],
    }
    if settings.sim_enabled:
        chains[Channel.SIM.value] = ["sim"]
    sms = _gateway_urls(settings.sms_webhook_url, settings.sms_fallback_urls)
    if sms:
        chains[Channel.SMS.value] = _names("sms-gateway", len(sms))
    push = _gateway_urls(settings.push_webhook_url, settings.push_fallback_urls)
    if push:
        chains[Channel.PUSH.value] = _names("push-gateway", len(push))
    return chains


@dataclass
class Providers:
    chains: dict[str, list[Provider]]
    # One bounded pool per purpose: receivers of one kind that hold connections open cannot take the others'.
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict, repr=False)

    @property
    def status_http(self) -> httpx.AsyncClient:
        """The HTTP client status webhooks post through; no delivery shares it."""
        return self._clients["status_webhooks"]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


def http_client(size: int, timeout_s: float) -> httpx.AsyncClient:
    """A bounded connection pool. Its timeouts are per operation; each exchange also has a deadline of its own
    (providers.http_gateway.post_signed), which is what bounds a receiver that trickles its answer."""
    return httpx.AsyncClient(timeout=timeout_s,
                             limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                             follow_redirects=False, headers={"User-Agent": "Herald"})


def build_providers(pool: asyncpg.Pool, settings: Settings) -> Providers:
    secret = webhook_secret(settings)
    clients = {"gateways": http_client(settings.gateway_pool_size, settings.webhook_timeout_s),
               "webhooks": http_client(settings.webhook_pool_size, settings.webhook_timeout_s),
               "status_webhooks": http_client(settings.status_webhook_pool_size, settings.webhook_timeout_s)}
    timeout = settings.webhook_timeout_s
    names = chain_names(settings)
    smtp = [SmtpProvider(name, SmtpConfig(host=host, port=port, sender=settings.smtp_from,
                                          username=settings.smtp_username, password=settings.smtp_password,
                                          starttls=settings.smtp_starttls, timeout_s=settings.smtp_timeout_s,
                                          ca_file=settings.smtp_ca_file))
            for name, (host, port) in zip(names[Channel.EMAIL.value], smtp_relays(settings), strict=True)]
    chains: dict[str, list[Provider]] = {
        Channel.EMAIL.value: list(smtp),
        Channel.WEBHOOK.value: [HttpGatewayProvider("webhook", clients["webhooks"], secret, webhook_payload,
                                                    allow=Allowlist.parse(settings.webhook_allowed_hosts),
                                                    timeout_s=timeout)],
        Channel.IN_APP.value: [InAppProvider(pool)],
    }
    if settings.sim_enabled:
        chains[Channel.SIM.value] = [SimProvider()]
    for channel, primary, fallbacks, payload in (
        (Channel.SMS.value, settings.sms_webhook_url, settings.sms_fallback_urls, sms_payload),
        (Channel.PUSH.value, settings.push_webhook_url, settings.push_fallback_urls, push_payload),
    ):
        urls = _gateway_urls(primary, fallbacks)
        if urls:
            chains[channel] = [HttpGatewayProvider(name, clients["gateways"], secret, payload, url,
                                                   timeout_s=timeout)
                               for name, url in zip(names[channel], urls, strict=True)]
    return Providers(chains=chains, _clients=clients)
