"""Apprise: the long tail of services (ntfy, Gotify, Matrix, Pushover, Mattermost, generic JSON endpoints, ...)
through the Apprise library's URLs.

The Apprise URLs are `config.urls` when set (one or more, separated by commas or spaces: every message goes to
all of them), else the recipient's address. Apprise's notify blocks, so it runs on a thread, never on the
event loop. Apprise reports only success or failure: a failure is transient (the service may be down), an
URL Apprise cannot parse is permanent. No service behind Apprise takes an idempotency key.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

import apprise
import httpx
from apprise.plugins.base import NotifyBase
from pydantic import BaseModel, ConfigDict, Field, field_validator

from providers import vendor_http
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, ProviderReceipt, TransientDeliveryError
from providers.egress import Allowlist, is_public

CHANNELS = ("email", "sms", "push", "chat")
# Apprise URLs carry the services' credentials (tokens, passwords) in them.
SECRETS = ("urls",)
SEPARATORS = re.compile(r"[\s,]+")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    urls: str | None = Field(default=None, min_length=1)

    @field_validator("urls")
    @classmethod
    def _apprise_urls(cls, value: str | None) -> str | None:
        if value is not None:
            for url in split(value):
                if apprise.Apprise.instantiate(url) is None:
                    # The URL itself holds secrets: only its scheme is named.
                    raise ValueError(f"a `{url.partition('://')[0]}://` URL that Apprise cannot parse")
        return value


def split(urls: str) -> list[str]:
    return [url for url in SEPARATORS.split(urls) if url]


class AppriseProvider:
    def __init__(self, name: str, config: Config, *, deadline_s: float, allow: Allowlist):
        self.name = name
        self._urls = split(config.urls) if config.urls is not None else None
        self._deadline_s = deadline_s
        self._allow = allow

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        sender = apprise.Apprise()
        for url in self._urls or [message.address.strip()]:
            service = apprise.Apprise.instantiate(url)
            if service is None:
                raise PermanentDeliveryError(f"{self.name}: the address is not an Apprise URL that Apprise can parse")
            await self._vet(service)
            # Each connect and each read is bounded; the whole exchange is not cut short from outside, as a
            # notification abandoned mid-flight could still arrive and then be sent again by the retry.
            service.socket_connect_timeout = service.socket_read_timeout = self._deadline_s / 2
            sender.add(service)
        result = await asyncio.to_thread(sender.notify, body=message.body, title=message.subject)
        if result:
            # No service behind Apprise hands back a message id: the delivery key stands for it.
            return ProviderReceipt(self.name, message.delivery_key)
        said = [entry.message for entry in result.logs()]
        raise TransientDeliveryError(f"{self.name}: {vendor_http.said(said[-1] if said else 'the service failed')}")

    async def _vet(self, service: NotifyBase) -> None:
        """The egress rule for the host an Apprise URL names, when it is one: public addresses, plus what
        `allow` permits. Many services put a token where the host goes (`tgram://{bot token}/{chat}`); a name
        that does not resolve is such a token, and the plugin sends to its vendor's fixed endpoint."""
        host = str(getattr(service, "host", "") or "")
        if not host:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            return
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if not is_public(address) and not self._allow.permits(host, address):
                raise PermanentDeliveryError(
                    f"{self.name}: refused to send to '{host}': it resolves to {address}, not a public address; "
                    "HERALD_WEBHOOK_ALLOWED_HOSTS can permit it")


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          status_callback: str | None = None, allow: Allowlist = vendor_http.PUBLIC_ONLY) -> Provider:
    """`client` is not used: Apprise makes its requests with its own HTTP library."""
    return AppriseProvider(name, config, deadline_s=deadline_s, allow=allow)
