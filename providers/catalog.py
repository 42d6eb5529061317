"""Every provider an integration can name: its channels, its `config` model, which config fields are secret,
and how to build it. A new adapter is one line in KINDS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from providers import (
    apns,
    apprise,
    discord,
    fcm,
    mailgun,
    msteams,
    postmark,
    sendgrid,
    ses,
    slack,
    telegram,
    twilio,
    vendor_http,
    vonage,
)
from providers.base import Provider
from providers.egress import Allowlist
from providers.http_gateway import GATEWAY_PAYLOADS, HttpGatewayProvider, gateway_payload
from providers.smtp import SmtpConfig, SmtpProvider
from providers.vendor_email import Secret, Sender


@dataclass(frozen=True)
class Tools:
    """What a provider is built with, besides its config: the worker's vendor pool and rules."""

    client: httpx.AsyncClient
    deadline_s: float
    allow: Allowlist  # HERALD_WEBHOOK_ALLOWED_HOSTS: where a non-default `base_url` may point
    signing_secret: str  # the gateways' HMAC secret (HERALD_WEBHOOK_SECRET)
    status_callback: str | None = None  # {HERALD_PUBLIC_URL}/v1/feedback/{integration id}


Build = Callable[[str, Any, Tools], Provider]


@dataclass(frozen=True)
class Kind:
    channels: tuple[str, ...]
    config: type[BaseModel]
    secrets: tuple[str, ...]
    build: Build


class SmtpIntegration(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    username: str | None = None
    password: Secret | None = None
    starttls: bool = False
    sender: Sender = Field(alias="from")


class GatewayIntegration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: vendor_http.HttpUrl


def _smtp(name: str, config: SmtpIntegration, tools: Tools) -> Provider:
    return SmtpProvider(name, SmtpConfig(host=config.host, port=config.port, sender=config.sender,
                                         username=config.username, password=config.password,
                                         starttls=config.starttls, timeout_s=tools.deadline_s))


def _gateway(name: str, config: GatewayIntegration, tools: Tools) -> Provider:
    return HttpGatewayProvider(name, tools.client, tools.signing_secret, gateway_payload, config.url,
                               allow=tools.allow, timeout_s=tools.deadline_s)


def vendor(module: ModuleType, *, callback: bool = False) -> Kind:
    """A vendor adapter module (CHANNELS, Config, SECRETS, build); `callback`: its build takes the feedback URL."""
    def build(name: str, config: Any, tools: Tools) -> Provider:
        extra = {"status_callback": tools.status_callback} if callback else {}
        provider: Provider = module.build(name, config, tools.client, deadline_s=tools.deadline_s,
                                          allow=tools.allow, **extra)
        return provider
    return Kind(tuple(module.CHANNELS), module.Config, tuple(module.SECRETS), build)


KINDS: dict[str, Kind] = {
    "smtp": Kind(("email",), SmtpIntegration, ("password",), _smtp),
    "http_gateway": Kind(tuple(GATEWAY_PAYLOADS), GatewayIntegration, (), _gateway),
    "sendgrid": vendor(sendgrid),
    "mailgun": vendor(mailgun),
    "postmark": vendor(postmark),
    "ses": vendor(ses),
    "twilio": vendor(twilio, callback=True),
    "vonage": vendor(vonage, callback=True),
    "slack": vendor(slack, callback=True),
    "msteams": vendor(msteams, callback=True),
    "discord": vendor(discord, callback=True),
    "telegram": vendor(telegram, callback=True),
    "fcm": vendor(fcm, callback=True),
    "apns": vendor(apns, callback=True),
    "apprise": vendor(apprise, callback=True),
}
