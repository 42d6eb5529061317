"""Request and response bodies: `XCreate` in, `XPublic` out."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args
from zoneinfo import available_timezones

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from core.durations import window_seconds
from core.emails import check_email
from core.ids import client_key_shown
from core.locales import LocaleTagError, canonical
from core.models import STATUS_EVENT_TYPES, Channel, Priority
from services.schedules import ScheduleView
from store.feed import FeedItemRecord
from store.layouts import LayoutRecord
from store.users import UserRecord
from store.webhooks import DeadLetter as WebhookDeadLetter

T = TypeVar("T")
DEFAULT_TOKEN_TTL_S = 30 * 86400
MAX_TOKEN_TTL_S = 365 * 86400

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


def _locale_tag(value: str) -> str:
    try:
        return canonical(value)
    except LocaleTagError as exc:
        raise ValueError(str(exc)) from None


# A BCP 47 tag CLDR knows, in its usual spelling (`fr-ca` becomes `fr-CA`).
LocaleTag = Annotated[str, Field(min_length=2, max_length=35, examples=["fr-CA"]), AfterValidator(_locale_tag)]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


# Limits on template data: it travels in every workflow's history and every render.
MAX_DATA_BYTES = 64 * 1024
MAX_DATA_DEPTH = 8
# PostgreSQL integer columns hold at most this.
MAX_INT4 = 2**31 - 1
# How far ahead a notification may be scheduled.
MAX_SCHEDULE_AHEAD = timedelta(days=366)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def check_data(value: dict[str, Any]) -> dict[str, Any]:
    try:
        # NaN and Infinity parse as Python floats, but they are not JSON: PostgreSQL's jsonb refuses them.
        size = len(json.dumps(value, separators=(",", ":"), default=str, allow_nan=False).encode())
    except ValueError:
        raise ValueError("holds NaN or Infinity, which JSON cannot carry") from None
    if size > MAX_DATA_BYTES:
        raise ValueError(f"is {size} bytes of JSON; the limit is {MAX_DATA_BYTES}")
    if _depth(value) > MAX_DATA_DEPTH:
        raise ValueError(f"nests deeper than {MAX_DATA_DEPTH} levels")
    return value


TemplateData = Annotated[dict[str, Any], AfterValidator(check_data)]


def _refuse_unstorable(value: Any, path: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path or 'a value'} contains a NUL character (\\u0000), which cannot be stored")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(f"{path or 'a value'} contains a lone UTF-16 surrogate, which is not text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unstorable(key, path)
            _refuse_unstorable(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_unstorable(item, f"{path}.{index}" if path else str(index))



def _no_repeats(value: list[T], message: str) -> list[T]:
    """The list validators' common check: each item at most once."""
    if len(set(value)) != len(value):
        raise ValueError(message)
    return value


def _distinct(message: str) -> AfterValidator:
    return AfterValidator(lambda value: _no_repeats(value, message))


def _known_timezone(value: str) -> str:
    if value not in available_timezones():
        raise ValueError("is not an IANA time zone such as Europe/Paris")
    return value


DistinctChannels = Annotated[list[Channel], _distinct("lists a channel more than once")]
TimeZone = Annotated[str, AfterValidator(_known_timezone)]

class Strict(BaseModel):
    # Unknown fields are refused, so a typo ("chanels") is a clear 422 rather than silently ignored.
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def only_storable_text(cls, data: Any) -> Any:
        # PostgreSQL text holds neither NUL nor lone surrogates: refuse them here, by field, not at the database.
        _refuse_unstorable(data, "")
        return data


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


# -- templates --

class TemplateCreate(Strict):
    name: Name
    subject: str | None = Field(default=None, max_length=1000)
    body: str = Field(default="", max_length=200_000, description="the text; made from the html when empty")
    html: str | None = Field(default=None, max_length=500_000)
    description: str | None = Field(default=None, max_length=2000)
    layout: Name | None = Field(default=None, description="the layout the html and text go into")


class TemplateUpdate(Strict):
    name: Name | None = None  # accepted for symmetry with POST; must match the path when given
    subject: str | None = Field(default=None, max_length=1000)
    body: str = Field(default="", max_length=200_000, description="the text; made from the html when empty")
    html: str | None = Field(default=None, max_length=500_000)
    description: str | None = Field(default=None, max_length=2000)
    layout: Name | None = Field(default=None, description="the layout the html and text go into")


class TemplatePublic(BaseModel):
    name: str
    version: int
    latest_version: int
    subject: str | None
    body: str
    html: str | None
    description: str | None
    variables: list[str]
    created_at: datetime
    updated_at: datetime
    locales: list[str] = Field(default_factory=list, description="the locales this version has translations for")
    layout: str | None = None
    includes: list[str] = Field(default_factory=list, description="the templates its texts include")
    html_format: Literal["html", "mjml"] = Field(
        default="html", description="mjml when the html is an <mjml> document, compiled to HTML when sent")


class TemplateLocalePut(Strict):
    subject: str | None = Field(default=None, max_length=1000)
    body: str = Field(default="", max_length=200_000, description="the text; made from the html when empty")
    html: str | None = Field(default=None, max_length=500_000)


class TemplateLocalePublic(BaseModel):
    locale: str
    subject: str | None
    body: str
    html: str | None
    html_format: Literal["html", "mjml"] = "html"


class TemplateLocales(BaseModel):
    name: str
    version: int
    items: list[TemplateLocalePublic]


class PreviewRequest(Strict):
    data: TemplateData = Field(default_factory=dict)
    user_id: str | None = None
    locale: LocaleTag | None = None


class PreviewPublic(BaseModel):
    subject: str
    body: str
    html: str | None = None


# -- layouts --

class LayoutCreate(Strict):
    name: Name
    html: str | None = Field(default=None, max_length=500_000, description="holds {{ content }}")
    text: str | None = Field(default=None, max_length=200_000, description="holds {{ content }}")


class LayoutUpdate(Strict):
    name: Name | None = None  # accepted for symmetry with POST; must match the path when given
    html: str | None = Field(default=None, max_length=500_000, description="holds {{ content }}")
    text: str | None = Field(default=None, max_length=200_000, description="holds {{ content }}")


@dataclass(frozen=True)
class LayoutPublic(LayoutRecord):
    """A layout's version as the API answers it: every field it is stored with."""


# -- users --

class QuietHours(Strict):
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be a time of day as HH:MM, 00:00 to 23:59")
        return value


class Preferences(Strict):
    channels: dict[Channel, bool] = Field(default_factory=dict)
    categories: dict[str, bool] = Field(default_factory=dict)
    quiet_hours: QuietHours | None = None


class UserFields(Strict):
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32, pattern=r"^\+?[0-9 ()\-]{4,31}$")
    push_token: str | None = Field(default=None, max_length=4096)
    webhook_url: AnyHttpUrl | None = None
    locale: str | None = Field(default=None, max_length=35, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    timezone: TimeZone | None = None
    topics: list[Name] | None = Field(default=None, max_length=1000)
    preferences: Preferences | None = None
    chat_address: str | None = Field(default=None, max_length=2000,
                                     description="the chat channel's address: a channel or chat id, an Apprise URL")

    @field_validator("email")
    @classmethod
    def email_shape(cls, value: str | None) -> str | None:
        return check_email(value) if value is not None else None


class UserCreate(UserFields):
    id: Name | None = None
    name: str = Field(min_length=1, max_length=200)


class UserUpdate(UserFields):
    name: str | None = Field(default=None, min_length=1, max_length=200)


@dataclass(frozen=True)
class UserPublic(UserRecord):
    """A user as the API answers it: every field it is stored with."""


class TokenCreate(Strict):
    ttl: str | None = Field(default=None, pattern=r"^[1-9][0-9]{0,6}[smhd]$",
                            description='how long the token lives, e.g. "30d"; default 30d, at most 365d')

    @field_validator("ttl")
    @classmethod
    def _at_most_a_year(cls, value: str | None) -> str | None:
        if value is not None and window_seconds(value) > MAX_TOKEN_TTL_S:
            raise ValueError("at most 365d")
        return value


class TokenPublic(BaseModel):
    token: str
    id: str
    expires_at: datetime


# -- topics --

class TopicChange(Strict):
    user_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(min_length=1, max_length=1000)


class TopicChangePublic(BaseModel):
    topic: str
    changed: int


# -- notifications --

def _at_most_days(days: int) -> AfterValidator:
    """A duration (`15m`, `2h`, `1d`) of at most `days`."""
    def check(value: str) -> str:
        if window_seconds(value) > days * 86400:
            raise ValueError(f"is longer than {days} days")
        return value
    return AfterValidator(check)


class DigestSpec(Strict):
    key: str = Field(min_length=1, max_length=100,
                     description="notifications of one user with the same key are delivered together")
    window: Annotated[str, _at_most_days(7)] = Field(
        pattern=r"^[1-9][0-9]{0,6}[smhd]$", examples=["15m"],
        description="how long a digest collects after its first notification: 1s to 7d")


class ThrottleSpec(Strict):
    limit: int = Field(ge=1, le=10_000, description="at most this many sends per user and category in `period`")
    period: Annotated[str, _at_most_days(31)] = Field(
        pattern=r"^[1-9][0-9]{0,6}[smhd]$", examples=["1d"], description="a sliding period: 1s to 31d")
    mode: Literal["skip", "delay"] = Field(
        default="skip", description="the excess ends as `skipped` with the reason, or waits for a free slot")


class EscalateSpec(Strict):
    after: Annotated[str, _at_most_days(7)] = Field(
        pattern=r"^[1-9][0-9]{0,6}[smhd]$", examples=["2h"],
        description="how long after delivery the in-app message may stay unread: 1s to 7d")
    to: DistinctChannels = Field(min_length=1, max_length=5, description="the channels to deliver on then")


def aware_and_near(value: datetime) -> datetime:
    """A time with a zone, at most MAX_SCHEDULE_AHEAD ahead."""
    if value.tzinfo is None:
        raise ValueError("must carry a time zone, for example 2026-11-22T10:00:00Z")
    try:
        value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is before the first instant a time can hold
        raise ValueError("is out of range") from None
    if value > datetime.now(UTC) + MAX_SCHEDULE_AHEAD:
        raise ValueError(f"is more than {MAX_SCHEDULE_AHEAD.days} days ahead")
    return value


class NotificationAction(Strict):
    label: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=2048)


class NotificationCreate(Strict):
    user_id: str | None = Field(default=None, max_length=128)
    to: dict[Channel, str] | None = None
    channels: DistinctChannels = Field(min_length=1, max_length=6)
    template: str = Field(min_length=1, max_length=128)
    template_version: int | None = Field(default=None, ge=1, le=MAX_INT4)
    data: TemplateData = Field(default_factory=dict)
    priority: Priority = Priority.TRANSACTIONAL
    category: str | None = Field(default=None, max_length=64)
    send_at: datetime | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)
    digest: DigestSpec | None = None
    escalate: EscalateSpec | None = None
    throttle: ThrottleSpec | None = None
    locale: LocaleTag | None = None  # tried before the user's locale
    actions: list[NotificationAction] | None = Field(default=None, min_length=1, max_length=2, description=(
        "buttons on the inbox item, label and url each rendered as a template with the data"))

    @field_validator("to")
    @classmethod
    def one_email_address(cls, value: dict[Channel, str] | None) -> dict[Channel, str] | None:
        if value and Channel.EMAIL in value:
            try:
                check_email(value[Channel.EMAIL])
            except ValueError as exc:
                raise ValueError(f"to.email {exc}") from None
        return value

    @field_validator("send_at")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        return aware_and_near(value) if value is not None else None

    @model_validator(mode="after")
    def has_recipient(self) -> NotificationCreate:
        if self.user_id is None and not self.to:
            raise ValueError("give a recipient: user_id, or to: {\"<channel>\": \"<address>\"}")
        if self.digest is not None and self.user_id is None:
            raise ValueError("a digest collects one user's notifications: give user_id")
        if self.digest is not None and self.send_at is not None:
            raise ValueError("a digest is sent when its window ends: give digest or send_at, not both")
        if self.escalate is not None:
            if Channel.IN_APP not in self.channels:
                raise ValueError("escalate follows an in_app message's read state: channels must include in_app")
            if set(self.escalate.to) & set(self.channels):
                raise ValueError("escalate.to names a channel the notification is already sent on")
            if self.digest is not None:
                raise ValueError("a digest cannot escalate: give digest or escalate, not both")
        if self.throttle is not None and (self.user_id is None or self.category is None):
            raise ValueError("a throttle counts per user and category: give user_id and category")
        if self.throttle is not None and self.digest is not None:
            raise ValueError("give digest or throttle, not both")
        return self


class Reschedule(Strict):
    send_at: datetime = Field(description="the new time to send at, with a time zone; a past time sends now")

    @field_validator("send_at")
    @classmethod
    def aware(cls, value: datetime) -> datetime:
        return aware_and_near(value)


class NotificationEdit(Strict):
    data: TemplateData = Field(description="replaces the notification's data; allowed until it is rendered")


class BulkCreate(Strict):
    # Items are validated one by one (a bad item refuses only itself), so they arrive here unparsed.
    notifications: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class BulkItemResult(BaseModel):
    index: int
    status: str  # accepted | duplicate | invalid | conflict | unavailable | error
    notification: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class BulkResult(BaseModel):
    results: list[BulkItemResult]
    counts: dict[str, int]


class DeliveryPublic(BaseModel):
    channel: str
    status: str
    provider: str | None
    attempts: int
    provider_message_id: str | None
    last_error: str | None
    confirmed_at: datetime | None = Field(default=None, description="when the provider reported that it arrived")


class TimelineEvent(BaseModel):
    at: datetime
    event: str
    detail: str


class NotificationPublic(BaseModel):
    id: str
    workflow_id: str
    idempotency_key: str

    @model_validator(mode="before")
    @classmethod
    def _client_key(cls, data: Any) -> Any:
        """Shows the idempotency key as the client sent it, without the API-key scope it is stored under."""
        if isinstance(data, dict) and isinstance(data.get("idempotency_key"), str):
            return {**data, "idempotency_key": client_key_shown(data["idempotency_key"], data.get("created_by"))}
        return data
    status: str
    user_id: str | None
    channels: list[str]
    priority: str
    category: str | None
    template: str
    template_version: int
    send_at: datetime | None
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    deliveries: list[DeliveryPublic]
    digest: DigestSpec | None = None
    digest_id: str | None = Field(default=None, description="when digested: the notification that delivered it")
    escalate: EscalateSpec | None = None
    throttle: ThrottleSpec | None = None
    requested_locale: str | None = Field(default=None, description="the `locale` the request gave")
    locale: str | None = Field(default=None, description="the locale whose text it was rendered with; null until "
                                                        "rendered")


class AttemptPublic(BaseModel):
    channel: str
    attempt: int
    at: datetime
    outcome: str = Field(description="`delivered`, `failed` (retried or failed over), `rejected` (permanent) or "
                                     "`gone` (the provider says the address is gone for good: suppressed)")
    error: str | None
    provider: str | None = Field(description="the integration this attempt went through")


class NotificationDetail(NotificationPublic):
    timeline: list[TimelineEvent]
    attempt_log: list[AttemptPublic] = Field(default_factory=list, description="every provider call, in order")


# -- broadcasts --

class Audience(Strict):
    user_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(default=None, min_length=1,
                                                                                        max_length=10_000)
    topic: Name | None = None
    all: bool | None = None

    @model_validator(mode="after")
    def exactly_one(self) -> Audience:
        given = [k for k in ("user_ids", "topic", "all") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError('give exactly one of {"user_ids": [...]}, {"topic": "..."} or {"all": true}')
        return self


class BroadcastCreate(Strict):
    template: str = Field(min_length=1, max_length=128)
    template_version: int | None = Field(default=None, ge=1, le=MAX_INT4)
    data: TemplateData = Field(default_factory=dict)
    channels: list[Channel] = Field(min_length=1, max_length=6)
    priority: Priority = Priority.MARKETING
    category: str | None = Field(default=None, max_length=64)
    audience: Audience
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)
    locale: LocaleTag | None = None  # tried before each recipient's own locale


class BroadcastPublic(BaseModel):
    id: str
    workflow_id: str
    status: str
    recipients: int
    counts: dict[str, int]


# -- schedules --

class ScheduleCreate(Strict):
    id: Name | None = Field(default=None, description="generated when absent; give one to make a retry safe")
    cron: str | None = Field(default=None, min_length=1, max_length=128, examples=["0 9 * * MON-FRI"],
                             description="a cron expression (5 to 7 fields, or @daily, @hourly, ...); or `interval`")
    interval: str | None = Field(default=None, pattern=r"^[1-9][0-9]{0,6}[smhd]$", examples=["1h"],
                                 description="fire every so often: 30s, 15m, 1h, 1d; or `cron`")
    timezone: TimeZone | None = Field(default=None, max_length=64, examples=["Europe/Paris"],
                                 description="the zone a cron expression is read in (default UTC)")
    template: str = Field(min_length=1, max_length=128)
    template_version: int | None = Field(default=None, ge=1, le=MAX_INT4,
                                         description="absent: the template's latest version at each fire")
    data: TemplateData = Field(default_factory=dict)
    channels: list[Channel] = Field(min_length=1, max_length=6)
    priority: Priority = Priority.MARKETING
    category: str | None = Field(default=None, max_length=64)
    audience: Audience
    paused: bool = False
    note: str | None = Field(default=None, max_length=500)


class ScheduleNote(Strict):
    note: str | None = Field(default=None, max_length=500)


@dataclass(frozen=True)
class SchedulePublic(ScheduleView):
    """A schedule as the API answers it: the stored definition with Temporal's live state and recent fires."""


# -- dead-letter queue --

class DeadLetterPublic(BaseModel):
    notification_id: str
    workflow_id: str
    channel: str
    error: str
    attempts: int
    dead_lettered_at: datetime


class DlqRetryRequest(Strict):
    ids: list[str] | None = Field(default=None, max_length=1000)


class DlqRetryPublic(BaseModel):
    retried: int


# -- status webhooks --

StatusEventType = Literal["accepted", "scheduled", "delivered", "dead_lettered", "digested", "read", "skipped",
                          "canceled", "discarded", "bounced", "complained", "undelivered", "action"]
assert get_args(StatusEventType) == STATUS_EVENT_TYPES, "one list of status event types"


class WebhookCreate(Strict):
    url: AnyHttpUrl = Field(description="where events are posted; vetted like users' webhook URLs "
                                        "(public addresses, or HERALD_WEBHOOK_ALLOWED_HOSTS)")
    events: Annotated[list[StatusEventType], _distinct("lists an event type twice")] = Field(
        default_factory=lambda: list(get_args(StatusEventType)), min_length=1, max_length=len(STATUS_EVENT_TYPES),
        description="the status changes to post; all of them when absent")
    description: str | None = Field(default=None, max_length=500)


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    created_at: datetime


@dataclass(frozen=True)
class WebhookDeadLetterPublic(WebhookDeadLetter):
    """A status event parked after its last attempt, as it is stored."""


class WebhookRetryRequest(Strict):
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(default=None, max_length=1000)


# -- inbox --

class InboxItemPublic(BaseModel):
    notification_id: str
    subject: str | None
    body: str
    read: bool
    created_at: datetime
    read_at: datetime | None


class InboxPage(Page[InboxItemPublic]):
    unread_count: int


# -- API keys --

Scope = Literal["admin", "send", "read"]


class KeyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    scopes: Annotated[list[Scope], _distinct("lists a scope twice")] = Field(min_length=1, max_length=3)
    # This key's own request rate; unset takes HERALD_KEY_RATE_PER_S and HERALD_KEY_BURST.
    rate_per_s: float | None = Field(default=None, gt=0, le=100_000)
    burst: int | None = Field(default=None, ge=1, le=1_000_000)


class KeyPublic(BaseModel):
    id: str
    name: str
    scopes: list[Scope]
    rate_per_s: float | None
    burst: int | None
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself: shown once, here; only its hash is stored.")


# -- codec (the Temporal Web UI's and CLI's remote codec protocol) --

class CodecPayload(Strict):
    metadata: dict[str, str] = Field(default_factory=dict, description="values are base64")
    data: str = Field(default="", description="base64")


class CodecPayloads(Strict):
    payloads: list[CodecPayload] = Field(max_length=10_000)


# -- integrations --

IntegrationId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
                                     description="lowercase letters, digits, '-' and '_'; at most 63")]


class IntegrationCreate(Strict):
    id: IntegrationId
    channel: Channel
    provider: str = Field(min_length=1, max_length=50, description="sendgrid, twilio, slack, ... (docs/providers.md)")
    config: dict[str, Any] = Field(description="the provider's own fields; the secret ones are stored encrypted")
    priority: int = Field(default=1, ge=1, le=1000, description="a channel tries its integrations from 1 up")
    rate_per_s: float | None = Field(default=None, gt=0, le=100_000, description="across all workers")
    active: bool = True


class IntegrationPatch(Strict):
    config: dict[str, Any] | None = Field(
        default=None, description="fields to change; a field left out keeps its value, a field set to null goes")
    priority: int | None = Field(default=None, ge=1, le=1000)
    rate_per_s: float | None = Field(default=None, gt=0, le=100_000, description="null removes the limit")
    active: bool | None = None


class IntegrationPublic(BaseModel):
    id: str
    channel: str
    provider: str
    config: dict[str, Any] = Field(description="secret fields masked: '****' and their last 4 characters")
    priority: int
    rate_per_s: float | None
    active: bool
    read_only: bool = Field(description="true for a provider configured by environment settings")
    created_at: datetime | None
    updated_at: datetime | None


class IntegrationTestRequest(Strict):
    to: str = Field(min_length=1, max_length=2000, description="an address of the integration's channel")


class IntegrationTestPublic(BaseModel):
    ok: bool
    provider_message_id: str | None = None
    error: str | None = None


# -- suppressions --

class SuppressionCreate(Strict):
    channel: str = Field(max_length=32, description="the channel the address is suppressed on")
    address: str = Field(min_length=1, max_length=512,
                         description="stored normalized: emails lowercased, phone numbers in E.164")
    reason: str | None = Field(default=None, max_length=500, description="why; `manual` when absent")


class SuppressionPublic(BaseModel):
    channel: str
    address: str
    reason: str
    source: str = Field(description="`api` (the API and the CLI), `dashboard`, `feedback` (a vendor's hard "
                                    "bounce or complaint), or the id of the integration that answered a send "
                                    "that the address is gone (a push token of an uninstalled app)")
    created_at: datetime


# -- the inbox in the customer's own app (/v1/me) --

FeedStatus = Literal["unread", "unseen", "archived"]
FeedChange = Literal["seen", "read", "unread", "archive", "unarchive"]
FeedAllChange = Literal["seen-all", "read-all"]


class FeedAction(BaseModel):
    label: str
    url: str


@dataclass(frozen=True)
class FeedItemPublic(FeedItemRecord):
    """An item of the user's feed, as stored; its actions typed for the schema."""

    actions: list[FeedAction]  # type: ignore[assignment]


class FeedPage(Page[FeedItemPublic]):
    unread_count: int
    unseen_count: int


class SnoozeRequest(Strict):
    until: datetime

    @field_validator("until")
    @classmethod
    def aware(cls, value: datetime) -> datetime:
        return aware_and_near(value)


class ActionClickPublic(BaseModel):
    notification_id: str
    index: int
    url: str


class PreferencesPatch(Strict):
    """Only what is given changes: a channel or category named here is set, the others stay; `quiet_hours`
    replaces the user's (null removes them)."""

    channels: dict[Channel, bool] | None = None
    categories: dict[Annotated[str, Field(min_length=1, max_length=64)], bool] | None = None
    quiet_hours: QuietHours | None = None
