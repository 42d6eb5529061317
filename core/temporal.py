"""Temporal client setup and the search attributes of the contract."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client, Interceptor
from temporalio.common import Priority, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

from core import payloads
from core.codec import EncryptionCodec, parse_keys
from core.settings import Settings

STATUS_KEY = SearchAttributeKey.for_keyword("NotificationStatus")
CHANNEL_KEY = SearchAttributeKey.for_keyword_list("NotificationChannel")
PRIORITY_KEY = SearchAttributeKey.for_keyword("NotificationPriority")
RECIPIENT_KEY = SearchAttributeKey.for_keyword("RecipientId")

SEARCH_ATTRIBUTES: dict[str, IndexedValueType.ValueType] = {
    "NotificationStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "NotificationChannel": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "NotificationPriority": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "RecipientId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


# Temporal task priority: 1 is taken first. OTP codes go ahead of any marketing backlog.
PRIORITY_KEYS = {"otp": 1, "transactional": 3, "marketing": 5}


def task_priority(priority: str, category: str | None) -> Priority:
    """Within one priority, fairness shares workers between categories: one category's blast cannot starve
    another's sends (needs matching.enableFairness on the server)."""
    return Priority(priority_key=PRIORITY_KEYS.get(priority, 3), fairness_key=category or "uncategorized")


def notification_search_attributes(status: str, channels: list[str], priority: str,
                                   user_id: str | None) -> TypedSearchAttributes:
    return TypedSearchAttributes([
        SearchAttributePair(STATUS_KEY, status),
        SearchAttributePair(CHANNEL_KEY, list(channels)),
        SearchAttributePair(PRIORITY_KEY, priority),
        SearchAttributePair(RECIPIENT_KEY, user_id or "-"),
    ])


def dev_server_search_attribute_args() -> list[str]:
    names = {
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
    }
    args: list[str] = []
    for name, kind in SEARCH_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={names[kind]}"]
    return args


def data_converter(settings: Settings) -> DataConverter:
    """Herald's converter (core/payloads.py), sealed by the payload codec when HERALD_PAYLOAD_KEYS is set."""
    if not settings.payload_keys:
        return payloads.CONVERTER
    # Failure messages and stack traces name addresses too ("550 no mailbox ada@..."): they are sealed as well.
    return dataclasses.replace(payloads.CONVERTER, payload_codec=EncryptionCodec(parse_keys(settings.payload_keys)),
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


async def connect(settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None,
                  interceptors: Sequence[Interceptor] = ()) -> Client:
    """`lazy` connects on first use: the API can start (and say so on /ready) while Temporal is down."""
    return await Client.connect(settings.temporal_target, namespace=settings.temporal_namespace, lazy=lazy,
                                data_converter=data_converter(settings), runtime=runtime,
                                interceptors=interceptors)


# Provider call latency buckets, in seconds: an in-app insert takes milliseconds, a slow SMTP relay seconds.
PROVIDER_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A runtime that serves the SDK's metrics, and Herald's recorded through its meter, for Prometheus."""
    if not settings.worker_metrics_address:
        return None
    buckets = {"herald_provider_latency": PROVIDER_LATENCY_BUCKETS}
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=settings.worker_metrics_address, counters_total_suffix=True, durations_as_seconds=True,
        histogram_bucket_overrides=buckets)))


def with_settings_converter(client: Client, settings: Settings) -> Client:
    """The same connection, with the data converter `settings` ask for (tests share one server connection)."""
    config = client.config()
    config["data_converter"] = data_converter(settings)
    return Client(**config)


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Registers the contract's search attributes where they are missing (an external server, the test server)."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes)
    except RPCError as exc:
        # The time-skipping test server can add search attributes but not list them.
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in known}
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise


def is_outage(exc: BaseException) -> bool:
    """Temporal not answering: an RPC error, or the lazy client's first connection failing."""
    return isinstance(exc, RPCError) or str(exc).startswith("Failed client connect")
