"""The parts of a notification workflow's input that come from settings alone, shared by every start (a single
notification's, a broadcast's recipients')."""

from __future__ import annotations

from core.models import RetryConfig
from core.settings import Settings


def retry_config(settings: Settings) -> RetryConfig:
    return RetryConfig(max_attempts=settings.max_attempts, initial_s=settings.retry_initial_s,
                       backoff=settings.retry_backoff, max_s=settings.retry_max_s,
                       dlq_retention_s=settings.dlq_retention_days * 86400,
                       delivery_timeout_s=settings.delivery_timeout_s)


def queued_channels(settings: Settings, channels: list[str]) -> list[str]:
    """The channels whose deliveries must go through their task queue: those with a rate limit."""
    if not settings.local_deliveries:
        return list(channels)
    limits = settings.channel_rate_limits
    return [c for c in channels if c in limits]
