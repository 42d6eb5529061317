"""Herald's payload converter writes the SDK default's JSON byte for byte, and reads it back to the same values:
histories replay whichever of the two wrote them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.converter import DataConverter

from core import payloads
from core.models import (
    STEPS_FUSED,
    AudienceDecision,
    DeliverInput,
    DeliveryState,
    Escalation,
    NotificationInput,
    NotificationState,
    Parked,
    PrepareResult,
    RenderedMessage,
    RetryConfig,
    Status,
    StatusChange,
    Throttle,
)
from core.settings import Settings
from core.temporal import data_converter

AT = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
DATA: dict[str, Any] = {"n": 1, "items": [{"sku": "a", "qty": 2}], "tags": ("x", "y"), "status": Status.DELIVERED}


def values() -> list[Any]:
    state = NotificationState(id="n1", workflow_id="notification-n1", status=Status.DEAD_LETTERED.value,
                              user_id="u1", channels=["email", "in_app"], priority="transactional", category=None,
                              template="welcome", template_version=3, attempts=4, send_at=AT,
                              deliveries=[DeliveryState(channel="email", status="failed", attempts=3,
                                                        last_error="550 no mailbox"), DeliveryState("in_app")])
    rendered = RenderedMessage(subject="Hi", body="Hello Ada", addresses={"email": "ada@example.com"},
                               html="<p>Hello</p>")
    return [
        NotificationInput(notification_id="n1", channels=["email"], template="welcome", template_version=3,
                          data=DATA, user_id="u1", to={"email": "ada@example.com"}, send_at=AT,
                          retry=RetryConfig(max_attempts=5), provider_chains={"email": 2}, queued_channels=[],
                          escalate=Escalation(after_s=60.0, to=["sms"]), throttle=Throttle(limit=3, period_s=3600.0),
                          steps=STEPS_FUSED,
                          parked=Parked(state=state, data=DATA, until=AT + timedelta(days=14), rendered=rendered)),
        DeliverInput(notification_id="n1", channel="email", address="ada@example.com", subject="Hi", body="Hello",
                     user_id=None, prior_attempts=1, max_attempts=3, html=None,
                     finish=StatusChange(notification_id="n1", status="delivered", event="delivered", at=AT,
                                         delivered_at=AT)),
        PrepareResult(decision=AudienceDecision(channels=["email"], skipped_channels={"sms": "opted out"},
                                                quiet_until=AT), rendered=rendered),
        state, {"plain": [1, 2.5, None, True]}, ["n1", "n2"], None, b"raw", {"ids": {"b", "a"} - {"a"}},
    ]


def test_the_json_is_the_sdk_defaults_byte_for_byte() -> None:
    ours = payloads.CONVERTER.payload_converter.to_payloads(values())
    sdk = DataConverter.default.payload_converter.to_payloads(values())
    assert [(p.metadata, p.data) for p in ours] == [(p.metadata, p.data) for p in sdk]


async def test_what_it_writes_reads_back_as_the_same_values() -> None:
    types = [type(v) for v in values()]
    for written_by in (payloads.CONVERTER, DataConverter.default):
        encoded = await written_by.encode(values())
        decoded = await payloads.CONVERTER.decode(encoded, types[:4])
        assert decoded[1:4] == values()[1:4]
        assert decoded[0].parked.state == values()[0].parked.state  # data's tuple and enum come back as JSON


def test_every_client_and_worker_uses_it_sealed_or_not() -> None:
    assert data_converter(Settings()).payload_converter_class is payloads.PayloadConverter
    sealed = data_converter(Settings(HERALD_PAYLOAD_KEYS="k1:" + "A" * 43 + "="))
    assert sealed.payload_converter_class is payloads.PayloadConverter and sealed.payload_codec is not None


async def test_decoding_asks_each_class_for_its_type_hints_once() -> None:
    payloads.cached_type_hints.cache_clear()
    deliver = values()[1]
    for _ in range(3):
        encoded = await payloads.CONVERTER.encode([deliver])
        assert await payloads.CONVERTER.decode(encoded, [DeliverInput]) == [deliver]
    # DeliverInput and the StatusChange it carries: read once each, then from the cache.
    info = payloads.cached_type_hints.cache_info()
    assert info.misses == 2 and info.hits == 4, info
