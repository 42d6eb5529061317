"""Enums and the dataclasses that cross the Temporal boundary (workflow and activity inputs and outputs).

One dataclass in and one out for every workflow and activity, so fields can be added without breaking
running workflows. Only stdlib imports here (core.workflow_ids has none other): workflow files import this module
inside the sandbox.
"""

# No `from __future__ import annotations` here: Temporal's converter calls typing.get_type_hints on every
# dataclass it decodes, and string annotations would be evaluated again each time (~10% of a worker's CPU).
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.workflow_ids import broadcast_recipient_notification_id


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    WEBHOOK = "webhook"
    IN_APP = "in_app"
    SIM = "sim"
    CHAT = "chat"


class Priority(StrEnum):
    OTP = "otp"
    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


class Status(StrEnum):
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"
    CANCELED = "canceled"
    DISCARDED = "discarded"
    SKIPPED = "skipped"
    DIGESTED = "digested"  # absorbed into a digest: delivered as part of the notification its digest_id names
    # Delivery feedback: the provider accepted the message, then reported that it did not arrive. A delivery
    # ends bounced, complained or undelivered; a notification whose every delivery did is undelivered.
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    UNDELIVERED = "undelivered"


def delivery_task_queue(base: str, channel: str) -> str:
    """Deliveries of each channel have a task queue of their own, so a provider's rate limit can be set on it."""
    return f"{base}-deliver-{channel}"


# A final status never changes again; dead_lettered is not final: a retry can still deliver it.
FINAL_STATUSES = frozenset({Status.DELIVERED, Status.CANCELED, Status.DISCARDED, Status.SKIPPED,
                            Status.DIGESTED, Status.UNDELIVERED})
# What vendor feedback makes of a delivery the provider had accepted: final, never overwritten by a late record.
FEEDBACK_STATUSES = frozenset({Status.BOUNCED, Status.COMPLAINED, Status.UNDELIVERED})


@dataclass
class RetryConfig:
    """The delivery retry policy, fixed at accept time so a workflow never reads the environment."""

    max_attempts: int = 3
    initial_s: float = 1.0
    backoff: float = 2.0
    max_s: float = 60.0
    dlq_retention_s: float = 14 * 24 * 3600.0
    delivery_timeout_s: float = 30.0


@dataclass
class Throttle:
    """At most `limit` sends per user and category in `period_s`; the excess is skipped, or held ("delay")."""

    limit: int
    period_s: float
    mode: str = "skip"  # "skip" | "delay"


@dataclass
class Escalation:
    """Deliver on `to` as well when the in-app message is still unread `after_s` seconds after delivery."""

    after_s: float
    to: list[str]


@dataclass
class NotificationInput:
    notification_id: str
    channels: list[str]
    template: str
    template_version: int
    data: dict[str, Any]
    user_id: str | None = None
    to: dict[str, str] = field(default_factory=dict)
    priority: str = Priority.TRANSACTIONAL.value
    category: str | None = None
    send_at: datetime | None = None
    retry: RetryConfig = field(default_factory=RetryConfig)
    # channel -> number of providers in its failover chain (absent: 1) at accept time. Failover goes by the
    # chain as it is when a provider gives up; this count decides only where a failure does not say (a
    # timeout) and for runs from before FAILOVER_PATCH.
    provider_chains: dict[str, int] = field(default_factory=dict)
    # Channels whose deliveries go through their channel's task queue (a server-enforced rate limit); the
    # others are delivered by a local activity inside the workflow task. None (inputs from before this
    # field existed): every channel is queued.
    queued_channels: list[str] | None = None
    escalate: Escalation | None = None
    throttle: Throttle | None = None
    # The workflow code version this notification runs, fixed by whoever starts it: 0 (inputs from before this
    # field) asks Temporal's patch markers which path a history took; STEPS_FUSED takes the fused steps with
    # no patch marker at all (workflows/notification/versions.py says why).
    steps: int = 0
    # A parked notification's run continues as new once its history holds this many events (or Temporal
    # suggests it sooner): retries of a dead letter every few minutes for its whole retention stay far below
    # Temporal's limit of 51,200 events per run.
    history_limit: int = 2000
    # Set on the input of a run that a parked run continued as new with: it starts parked, where that one was.
    parked: "Parked | None" = None


# NotificationInput.steps of every notification started today.
STEPS_FUSED = 1


@dataclass
class DeliveryState:
    channel: str
    status: str = Status.ACCEPTED.value
    provider: str | None = None
    attempts: int = 0
    provider_message_id: str | None = None
    last_error: str | None = None


@dataclass
class NotificationState:
    """What the workflow knows; returned by the `status` query and as the workflow result."""

    id: str
    workflow_id: str
    status: str
    user_id: str | None
    channels: list[str]
    priority: str
    category: str | None
    template: str
    template_version: int
    attempts: int = 0
    last_error: str | None = None
    send_at: datetime | None = None
    delivered_at: datetime | None = None
    deliveries: list[DeliveryState] = field(default_factory=list)


@dataclass
class Parked:
    """A parked notification carried across continue_as_new: all the workflow knows, and its retention's end."""

    state: NotificationState
    data: dict[str, Any]
    until: datetime  # the dead-letter retention ends here, however many runs the parking spans
    rendered: "RenderedMessage | None" = None  # the message of the rounds so far, sent again on a retry
    render_started: bool = False
    read: bool = False


@dataclass
class AudienceInput:
    notification_id: str
    user_id: str
    channels: list[str]
    category: str | None
    priority: str
    now: datetime
    to: dict[str, str] = field(default_factory=dict)
    throttle: Throttle | None = None


@dataclass
class AudienceDecision:
    channels: list[str] = field(default_factory=list)  # the channels that may be sent now
    skipped_channels: dict[str, str] = field(default_factory=dict)  # channel -> why not
    skip_reason: str | None = None  # set when nothing at all may be sent
    quiet_until: datetime | None = None  # set when the user's quiet hours hold the send until then
    hold_reason: str | None = None  # why quiet_until holds it, when not quiet hours (a throttle in delay mode)


@dataclass
class RenderInput:
    notification_id: str
    template: str
    template_version: int
    data: dict[str, Any]
    channels: list[str]
    user_id: str | None = None
    to: dict[str, str] = field(default_factory=dict)


@dataclass
class RenderedMessage:
    subject: str
    body: str
    # channel -> address, resolved from `to` first, then the user's contact fields
    addresses: dict[str, str] = field(default_factory=dict)
    html: str | None = None


@dataclass
class StatusChange:
    """One transition written to the read model, with its timeline event."""

    notification_id: str
    status: str
    event: str
    at: datetime
    detail: str = ""
    last_error: str | None = None
    delivered_at: datetime | None = None
    send_at: datetime | None = None
    deliveries: list[DeliveryState] = field(default_factory=list)
    # Set when the notification's data was edited in flight (the `edit_data` update): the new data to store.
    data: dict[str, Any] | None = None


@dataclass
class DeliverInput:
    notification_id: str
    channel: str
    address: str
    subject: str
    body: str
    user_id: str | None
    # attempts already spent on this channel by earlier rounds (a redrive keeps counting)
    prior_attempts: int
    max_attempts: int
    html: str | None = None
    # How many providers of the channel's failover chain gave up before this round (0: the round starts with
    # the primary). The round uses the first of the channel's providers as they are now that has not given up:
    # those named in `tried_providers` are left out by name, the others by position (inputs from before that
    # field name none, and index the chain).
    provider_index: int = 0
    # The attempt within this round when the workflow runs the retries itself (local deliveries, one activity
    # per attempt); 0: Temporal's retry policy runs them and the activity's own attempt number counts.
    attempt_in_round: int = 0
    # The notification's final `delivered` record, when this send is its last one: written with the receipt,
    # this delivery's outcome and the time filled in, instead of in a step of its own (FUSED_STEPS_PATCH).
    finish: StatusChange | None = None
    # The providers that gave up on this delivery in earlier rounds, by name (see `provider_index`).
    tried_providers: list[str] = field(default_factory=list)


@dataclass
class DeliverResult:
    provider: str
    provider_message_id: str
    attempt: int
    delivered_at: datetime


@dataclass
class PrepareInput:
    """The first steps of a due notification in one local activity (see activities/prepare.py)."""

    render: RenderInput
    processing: StatusChange  # written when the notification may go now
    audience: AudienceInput | None = None  # None for raw addresses: nobody's preferences to check


@dataclass
class PrepareResult:
    # Set when a user's preferences were checked; the message is rendered only when all of it may go now.
    decision: AudienceDecision | None = None
    rendered: RenderedMessage | None = None



@dataclass
class Reschedule:
    """The `reschedule` update's argument: the new time to send at (a past time sends now)."""

    send_at: datetime


@dataclass
class DataEdit:
    """The `edit_data` update's argument: the data the template will be rendered with, replacing the old."""

    data: dict[str, Any]


@dataclass
class DeadLetter:
    notification_id: str
    channel: str
    error: str
    attempts: int
    at: datetime


@dataclass
class DeadLetterResolution:
    notification_id: str
    resolution: str  # "retried" | "discarded" | "canceled" | "expired"
    at: datetime


@dataclass
class BroadcastInput:
    broadcast_id: str
    template: str
    template_version: int
    data: dict[str, Any]
    channels: list[str]
    priority: str
    category: str | None
    retry: RetryConfig = field(default_factory=RetryConfig)
    provider_chains: dict[str, int] = field(default_factory=dict)
    queued_channels: list[str] | None = None  # as on NotificationInput
    # Fan-out shape: recipients per page, and pages per workflow run before continue_as_new. Since the
    # fan-out-by-activity patch a page costs the run about a dozen events (read the page, start it); before
    # it, each child cost about six, which is why a run holds one page (measured: 12,609 events for 4 pages
    # of 500 in one run).
    page_size: int = 250
    pages_per_run: int = 1
    # Carried across continue_as_new: the last user id started, and how many were started so far.
    cursor: str | None = None
    started: int = 0


def recipient_input(b: BroadcastInput, user_id: str) -> NotificationInput:
    """One recipient's notification of a broadcast: id `<broadcast>-<user>`, the same on every start."""
    return NotificationInput(notification_id=broadcast_recipient_notification_id(b.broadcast_id, user_id),
                             channels=list(b.channels), template=b.template, template_version=b.template_version,
                             data=b.data, user_id=user_id, priority=b.priority, category=b.category, retry=b.retry,
                             provider_chains=b.provider_chains, queued_channels=b.queued_channels,
                             steps=STEPS_FUSED)


@dataclass
class BroadcastPageInput:
    broadcast_id: str
    after: str | None
    limit: int


@dataclass
class BroadcastPage:
    user_ids: list[str]


@dataclass
class BroadcastStartInput:
    """One page of recipients whose NotificationWorkflows a single activity starts."""

    broadcast: BroadcastInput
    user_ids: list[str]


@dataclass
class BroadcastStatus:
    broadcast_id: str
    status: str
    recipients: int


@dataclass
class ScheduledBroadcastInput:
    """The input every fire of a recurring broadcast's Temporal Schedule starts its workflow with."""

    schedule_id: str


@dataclass
class DigestEvent:
    """One notification to absorb into a digest: its data, and what the digest sends if it is the first."""

    notification_id: str
    data: dict[str, Any]
    template: str
    template_version: int
    channels: list[str]
    priority: str
    category: str | None
    window_s: float
    to: dict[str, str] = field(default_factory=dict)


@dataclass
class DigestInput:
    user_id: str
    key: str
    # Events that arrived while the previous run delivered, carried across continue_as_new.
    pending: list[DigestEvent] = field(default_factory=list)


@dataclass
class DigestBatch:
    """One window's events, in arrival order, for the activity that closes the window."""

    user_id: str
    key: str
    events: list[DigestEvent]


@dataclass
class DigestResult:
    digest_id: str | None  # the notification that delivers the digest; None when nothing was left to absorb
    absorbed: list[str] = field(default_factory=list)


# -- status webhooks --

# The status changes a subscriber may ask for (`read` and `action`, a click on an item's action button, come
# from the inbox, not from a status).
STATUS_EVENT_TYPES = ("accepted", "scheduled", "delivered", "dead_lettered", "digested", "read", "skipped",
                      "canceled", "discarded", "bounced", "complained", "undelivered", "action")


@dataclass
class StatusEvent:
    """One outbox row (`status_event`), handed to its workflow by the relay. The body is read at post time."""

    event_id: int
    type: str


@dataclass
class StatusWebhookInput:
    subscription_id: str
    notification_id: str
    retry: RetryConfig
    # Carried across continue_as_new: events not yet posted, and every event id this workflow has taken.
    pending: list[StatusEvent] = field(default_factory=list)
    seen: list[int] = field(default_factory=list)


@dataclass
class StatusPost:
    event_id: int


@dataclass
class StatusPostResult:
    outcome: str  # delivered | already_done (an earlier run or attempt posted it) | canceled (subscription gone)


@dataclass
class WebhookDeadLetter:
    event_id: int
    error: str
    at: datetime


@dataclass
class WebhookResolution:
    event_id: int
    resolution: str  # retried | discarded | expired
    at: datetime


# -- snoozed inbox items --


@dataclass
class SnoozeInput:
    """An inbox item hidden until `until`: the SnoozeWorkflow brings it back then."""

    notification_id: str
    until: datetime
