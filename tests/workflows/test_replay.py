"""Histories recorded from every earlier version of the workflows must replay on today's code.

A deploy that changes a workflow's command sequence without a `workflow.patched` guard breaks every
notification in flight at the time (TMPRL1100, non-determinism). These histories came from the workflow tests
(HERALD_RECORD_HISTORIES=<dir> pytest tests/workflows), one directory per released version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.broadcast import BroadcastWorkflow
from workflows.digest import DigestWorkflow
from workflows.notification import NotificationWorkflow
from workflows.scheduled import ScheduledBroadcastWorkflow
from workflows.snooze import SnoozeWorkflow
from workflows.status_webhook import StatusWebhookWorkflow

HISTORIES = Path(__file__).parent / "histories"
VERSIONS = sorted(p.name for p in HISTORIES.iterdir() if p.is_dir())


@pytest.mark.parametrize("version", VERSIONS)
async def test_recorded_histories_replay_without_nondeterminism(version: str) -> None:
    files = sorted((HISTORIES / version).glob("*.json"))
    assert files, f"no histories recorded for {version}"
    replayer = Replayer(workflows=[NotificationWorkflow, BroadcastWorkflow, DigestWorkflow, StatusWebhookWorkflow,
                                   ScheduledBroadcastWorkflow, SnoozeWorkflow])

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for path in files:
            yield WorkflowHistory.from_json(path.stem, path.read_text())

    # One replay worker for all of them: a worker per history costs more than the replay itself.
    replayed, failures = 0, []
    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:
            replayed += 1
            if result.replay_failure is not None:
                failures.append(f"{version}/{result.history.workflow_id}.json: {result.replay_failure}")
    assert not failures, "\n".join(failures)
    assert replayed == len(files)
