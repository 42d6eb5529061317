"""Herald's worker metrics, recorded through the Temporal SDK's metric meter so they leave the worker on the
same Prometheus endpoint as the SDK's own (HERALD_WORKER_METRICS_ADDRESS). Without a metrics runtime the meter
is a no-op, so activities record unconditionally."""

from __future__ import annotations

from temporalio import activity


def delivery(channel: str, provider: str, outcome: str, seconds: float | None) -> None:
    """One delivery attempt: outcome is delivered, failed (will retry or not), rejected (permanent) or gone (the
    provider says the address is gone for good: suppressed)."""
    meter = activity.metric_meter()
    labels = {"channel": channel, "provider": provider, "outcome": outcome}
    meter.create_counter("herald_deliveries", "Delivery attempts by channel, provider and outcome").add(1, labels)
    if seconds is not None:
        meter.create_histogram_float("herald_provider_latency", "Time a provider took to answer one send",
                                     "s").record(seconds, labels)


def dead_letters(open_count: int) -> None:
    activity.metric_meter().create_gauge("herald_dlq_size", "Deliveries parked in the dead-letter queue"
                                         ).set(open_count)


def status_webhook(outcome: str, seconds: float | None) -> None:
    """One status webhook post: delivered, failed (will retry or not), rejected (permanent), or canceled."""
    meter = activity.metric_meter()
    labels = {"outcome": outcome}
    meter.create_counter("herald_status_webhooks", "Status webhook posts by outcome").add(1, labels)
    if seconds is not None:
        meter.create_histogram_float("herald_status_webhook_latency", "Time a subscriber took to answer one post",
                                     "s").record(seconds, labels)


def status_webhook_dead_letters(open_count: int) -> None:
    activity.metric_meter().create_gauge("herald_status_webhook_dlq_size",
                                         "Status webhook events parked in the dead-letter queue").set(open_count)
