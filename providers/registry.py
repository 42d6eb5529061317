"""Which providers serve which channel, in failover order: the environment's, built once per worker from
settings, and the stored integrations', rebuilt whenever one changes (services/integration_watch.py).

A channel with active stored integrations uses them, in priority order; a channel without any uses its
environment configuration."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

import asyncpg
import httpx
from pydantic import BaseModel

from core.models import Channel
from core.secrets import webhook_secret
from core.settings import Settings
from providers.base import Provider
from providers.catalog import KINDS, Tools
from providers.egress import Allowlist
from providers.http_gateway import GATEWAY_PAYLOADS, HttpGatewayProvider, webhook_payload
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


def gateway_urls(settings: Settings) -> dict[str, list[str]]:
    """The environment's signed HTTP gateways per channel, primary first; a channel without one is absent."""
    configured = {Channel.SMS.value: (settings.sms_webhook_url, settings.sms_fallback_urls),
                  Channel.PUSH.value: (settings.push_webhook_url, settings.push_fallback_urls),
                  Channel.CHAT.value: (settings.chat_webhook_url, settings.chat_fallback_urls)}
    urls = {channel: _gateway_urls(*pair) for channel, pair in configured.items()}
    return {channel: chain for channel, chain in urls.items() if chain}


def _names(base: str, count: int) -> list[str]:
    return [base] + [f"{base}-fallback-{i}" for i in range(1, count)]


def environment_chain_names(settings: Settings) -> dict[str, list[str]]:
    """The environment's provider names per channel, primary first."""
    chains = {
        Channel.EMAIL.value: _names("smtp", len(smtp_relays(settings))),
        Channel.WEBHOOK.value: ["webhook"],
        Channel.IN_APP.value: ["in_app"],
    }
    if settings.sim_enabled:
        chains[Channel.SIM.value] = ["sim"]
    for channel, urls in gateway_urls(settings).items():
        chains[channel] = _names(f"{channel}-gateway", len(urls))
    return chains


# The active stored integrations' ids per channel, in priority order, as this process last loaded them; per
# database, for a process (a test) may serve more than one. Filled by services/integration_watch.py.
_stored_names: dict[str, dict[str, list[str]]] = {}


def _database(settings: Settings) -> str:
    return settings.database_url or str(settings.data_dir)


def publish_stored_names(settings: Settings, names: dict[str, list[str]]) -> None:
    _stored_names[_database(settings)] = names


def chain_names(settings: Settings) -> dict[str, list[str]]:
    """Provider names per channel, primary first. A channel absent here is not available."""
    return {**environment_chain_names(settings), **_stored_names.get(_database(settings), {})}


@dataclass(frozen=True)
class EnvironmentProvider:
    """A provider configured by environment settings: shown as an integration that cannot be edited."""

    name: str
    channel: str
    provider: str
    config: dict[str, object]
    priority: int


def environment_providers(settings: Settings) -> list[EnvironmentProvider]:
    names = environment_chain_names(settings)
    relays = smtp_relays(settings)
    urls = gateway_urls(settings)
    shown = []
    for channel, chain in names.items():
        for index, name in enumerate(chain):
            config: dict[str, object] = {}
            kind = "smtp" if channel == Channel.EMAIL.value else channel
            if channel == Channel.EMAIL.value:
                config = {"host": relays[index][0], "port": relays[index][1], "from": settings.smtp_from}
            elif channel in urls:
                kind, config = "http_gateway", {"url": urls[channel][index]}
            shown.append(EnvironmentProvider(name, channel, kind, config, index + 1))
    return shown


@dataclass(frozen=True)
class StoredIntegration:
    """An active stored integration, its config validated and its secrets opened."""

    id: str
    channel: str
    provider: str
    config: BaseModel
    rate_per_s: float | None


def build_stored(integration: StoredIntegration, tools: Tools, public_url: str) -> Provider:
    """The integration's provider, named by its id; vendors that report back are told its feedback URL."""
    callback = f"{public_url.rstrip('/')}/v1/feedback/{integration.id}"
    return KINDS[integration.provider].build(integration.id, integration.config,
                                             replace(tools, status_callback=callback))


class LiveChains(Mapping[str, list[Provider]]):
    """The chains deliveries read. A change of integrations swaps the whole mapping: a send under way keeps the
    provider it took, the next attempt reads the new chain."""

    def __init__(self, environment: dict[str, list[Provider]]):
        self._environment = environment
        self._current = dict(environment)
        # Sends per second allowed through each stored integration, by its id, across all workers.
        self.rates: dict[str, float] = {}

    def __getitem__(self, channel: str) -> list[Provider]:
        return self._current[channel]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current)

    def __len__(self) -> int:
        return len(self._current)

    def replace(self, stored: dict[str, list[Provider]], rates: dict[str, float]) -> None:
        self._current = {**self._environment, **stored}
        # Changed in place: the deliveries hold this very mapping (no await between the two lines).
        self.rates.clear()
        self.rates.update(rates)


@dataclass
class Providers:
    chains: LiveChains
    tools: Tools
    # One bounded pool per purpose: receivers of one kind that hold connections open cannot take the others'.
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict, repr=False)
    _built: dict[str, tuple[StoredIntegration, Provider]] = field(default_factory=dict, repr=False)
    _retired: list[Provider] = field(default_factory=list, repr=False)

    def apply(self, integrations: list[StoredIntegration], public_url: str) -> None:
        """Rebuilds the stored integrations' chains (`integrations` in priority order per channel). An
        integration that did not change keeps its provider: its connections and cached tokens (APNs refuses a
        new token more often than every 20 minutes)."""
        stored: dict[str, list[Provider]] = {}
        built: dict[str, tuple[StoredIntegration, Provider]] = {}
        for integration in integrations:
            kept = self._built.get(integration.id)
            provider = kept[1] if kept is not None and kept[0] == integration else build_stored(
                integration, self.tools, public_url)
            built[integration.id] = (integration, provider)
            stored.setdefault(integration.channel, []).append(provider)
        # Replaced ones may still be sending: those with connections of their own are closed at shutdown.
        self._retired += [p for i, (_, p) in self._built.items() if built.get(i, (None, None))[1] is not p]
        self._built = built
        self.chains.replace(stored, {i.id: i.rate_per_s for i in integrations if i.rate_per_s})

    @property
    def status_http(self) -> httpx.AsyncClient:
        """The HTTP client status webhooks post through; no delivery shares it."""
        return self._clients["status_webhooks"]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        for provider in [*self._retired, *(p for _, p in self._built.values())]:
            close = getattr(provider, "aclose", None)  # adapters that hold connections of their own (APNs)
            if close is not None:
                await close()


def http_client(size: int, timeout_s: float) -> httpx.AsyncClient:
    """A bounded connection pool. Its timeouts are per operation; each exchange also has a deadline of its own
    (providers.http_gateway.post_signed), which is what bounds a receiver that trickles its answer."""
    return httpx.AsyncClient(timeout=timeout_s,
                             limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                             follow_redirects=False, headers={"User-Agent": "Herald"})


def build_providers(pool: asyncpg.Pool, settings: Settings) -> Providers:
    secret = webhook_secret(settings)
    clients = {"gateways": http_client(settings.gateway_pool_size, settings.webhook_timeout_s),
               "vendors": http_client(settings.gateway_pool_size, settings.webhook_timeout_s),
               "webhooks": http_client(settings.webhook_pool_size, settings.webhook_timeout_s),
               "status_webhooks": http_client(settings.status_webhook_pool_size, settings.webhook_timeout_s)}
    timeout = settings.webhook_timeout_s
    names = environment_chain_names(settings)
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
    for channel, urls in gateway_urls(settings).items():
        chains[channel] = [HttpGatewayProvider(name, clients["gateways"], secret, GATEWAY_PAYLOADS[channel], url,
                                               timeout_s=timeout)
                           for name, url in zip(names[channel], urls, strict=True)]
    return Providers(chains=LiveChains(chains), tools=vendor_tools(settings, clients["vendors"]), _clients=clients)


def vendor_tools(settings: Settings, client: httpx.AsyncClient) -> Tools:
    """What stored integrations are built with: `client` and the egress rules of settings."""
    return Tools(client=client, deadline_s=settings.webhook_timeout_s,
                 allow=Allowlist.parse(settings.webhook_allowed_hosts), signing_secret=webhook_secret(settings))
