"""The in-app channel: the provider is Herald's own inbox table."""

from __future__ import annotations

import asyncpg

from providers.base import OutgoingMessage, PermanentDeliveryError, ProviderReceipt
from store import inbox


class InAppProvider:
    name = "in_app"

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        if not message.user_id:
            raise PermanentDeliveryError("in_app: the notification has no user to own the inbox item")
        # One item per notification (primary key): a retried send after a lost reply adds nothing.
        await inbox.add(self._pool, notification_id=message.notification_id, user_id=message.user_id,
                        subject=message.subject or None, body=message.body)
        return ProviderReceipt(provider=self.name, provider_message_id=f"inbox-{message.notification_id}")
