"""The notification workflow's versions: which command sequence a run's history took, named in one place.

A running notification replays its recorded history on every worker, so each sequence the workflow ever
issued stays here for as long as such a notification can still be running. Two kinds:

- The steps path (`StepsPath`), decided once per run by `steps_path`, first thing in `run`: how bookkeeping,
  audience checks, rendering and deliveries run. The input's `steps` says it for notifications started today;
  older histories answer through their patch markers.
- Later additions asked where the history asked them, never earlier: a patch asked before its point would
  write its marker (a command) into every run, also runs that never get there. Each has its function below.
"""

from __future__ import annotations

from enum import Enum

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core.models import STEPS_FUSED, NotificationInput

# From this patch on, bookkeeping, audience checks and rendering are short and talk only to PostgreSQL: they
# run as local activities, inside the workflow task that needs them, instead of one server round trip each.
# Deliveries are chosen per channel by the input's `queued_channels` (see delivery.py). Workflows started
# before the patch replay their recorded regular activities unchanged.
LOCAL_STEPS_PATCH = "local-steps-v2"
# From this patch on, a due notification's audience check, render and `processing` record are one local
# activity (activities/prepare.py) instead of three, and the `processing` search attribute is written only when
# the workflow is about to wait (a queued delivery, a retry's backoff): until then the workflow task has not
# ended, nobody can see the attribute, and the final status replaces it in the same task.
FUSED_STEPS_PATCH = "fused-steps-v1"
# From this patch on, a delivered in_app notification with an escalation waits for its read, and delivers on
# the escalation's channels when it is still unread. Only inputs with `escalate` reach it.
ESCALATION_PATCH = "escalation-v1"
# From this patch on, parking keeps every retry and discard: the signals count from the moment the workflow
# decides to park (the dead-letter rows it writes first are what the API's DLQ retry reads), where before they
# counted only once the status was dead_lettered and were then reset after the status record, so one handled
# during those records was lost. And a parked run whose history has grown long continues as new (see
# NotificationInput.history_limit), carrying the whole notification in `Parked`.
PARKING_PATCH = "parking-v2"
# From this patch on, run returns only once every update and signal handler has finished: an update still
# recording when the notification ends gets its answer instead of an error. Asked only when a handler is in
# flight at the end, so the common path writes no marker.
HANDLERS_PATCH = "handlers-finish-v1"
# From this patch on, a delivery whose address is on the suppression list (the deliver activity refuses it with
# the error type `Suppressed`) is skipped, not dead-lettered; a notification none of whose deliveries went out
# for that reason ends `skipped`. Asked only when a delivery is refused so: every other run writes no marker.
SUPPRESSION_PATCH = "suppression-v1"
# From this patch on, a delivery fails over by its channel's providers as the workers hold them at the time
# (an integration deleted, deactivated or added since accept counts as it is now), where before it tried as
# many providers as the channel had at accept, by position. Asked only where the two ways decide differently
# (the chain changed after accept): every other run writes no marker.
FAILOVER_PATCH = "failover-current-chain-v1"
# From this patch on, a delivery whose provider says the address is gone for good (the deliver activity fails
# with the error type `AddressGone`, having suppressed the address) ends `bounced` instead of being
# dead-lettered; a notification none of whose deliveries went out, and one of them so, ends `undelivered`. Asked
# only when a delivery fails so: every other run writes no marker.
ADDRESS_GONE_PATCH = "address-gone-v1"


class StepsPath(Enum):
    """How a run's steps run, by the version that started it."""

    # Before LOCAL_STEPS_PATCH: every step, bookkeeping included, is a regular activity.
    REGULAR = "regular"
    # LOCAL_STEPS_PATCH: the PostgreSQL-only steps are local activities; a channel outside the input's
    # `queued_channels` is delivered by local activities too, the workflow running the retries.
    LOCAL = "local"
    # FUSED_STEPS_PATCH, or an input with `steps` >= STEPS_FUSED: as LOCAL, and a due notification's audience
    # check, render and `processing` record are one `prepare`; the notification's last send writes `delivered`.
    FUSED = "fused"

    @property
    def local(self) -> bool:
        return self is not StepsPath.REGULAR

    @property
    def fused(self) -> bool:
        return self is StepsPath.FUSED


def steps_path(inp: NotificationInput) -> StepsPath:
    """The steps path of this run: asked once, at the start of `run`, before any step."""
    if inp.steps >= STEPS_FUSED:
        # Started since the input carries its steps: the input, recorded in the history's first event, says
        # which path this run takes, so no patch marker is needed. Each `workflow.patched` costs a marker and
        # an upsert of Temporal's TemporalChangeVersion search attribute: two history events and about 1 ms of
        # server CPU per workflow (docs/architecture.md). Workers must run this code before an API starts such
        # inputs (an older worker ignores the field and writes the markers, which this branch would not expect
        # on replay): deploy workers first, as for any new input field.
        return StepsPath.FUSED
    # Asked first, and alone for workflows started before that: fused steps are local steps by construction.
    # Histories from before FUSED_STEPS_PATCH have no marker for it, and go on to ask about LOCAL_STEPS_PATCH
    # as they always did.
    if workflow.patched(FUSED_STEPS_PATCH):
        return StepsPath.FUSED
    if workflow.patched(LOCAL_STEPS_PATCH):
        return StepsPath.LOCAL
    return StepsPath.REGULAR


def escalates(inp: NotificationInput) -> bool:
    """Asked once an in_app delivery with an escalation is delivered; fused inputs escalate without a marker."""
    return inp.steps >= STEPS_FUSED or workflow.patched(ESCALATION_PATCH)


def parking_keeps_signals() -> bool:
    """Asked when the notification decides to park (every time: Temporal keeps the first answer of a run)."""
    return workflow.patched(PARKING_PATCH)


def waits_for_handlers() -> bool:
    """Asked at the end of run, only when an update or signal handler is still running."""
    return workflow.patched(HANDLERS_PATCH)


def skips_suppressed() -> bool:
    """Asked when a delivery is refused because its address is suppressed."""
    return workflow.patched(SUPPRESSION_PATCH)


def fails_over_by_current_chain() -> bool:
    """Asked when a failed delivery round would go on by one way and stop by the other."""
    return workflow.patched(FAILOVER_PATCH)


def ends_gone_addresses() -> bool:
    """Asked when a delivery fails because its provider says the address is gone for good."""
    return workflow.patched(ADDRESS_GONE_PATCH)
