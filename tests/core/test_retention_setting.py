"""HERALD_RETENTION_DAYS: 30 by default, 0 keeps everything, and never so short that retention could delete a
notification whose workflow still waits (an escalation waits up to 7 days after delivery)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import Settings


def test_retention_defaults_to_30_days_and_0_turns_it_off() -> None:
    assert Settings().retention_days == 30
    assert Settings(HERALD_RETENTION_DAYS=0).retention_days == 0
    assert Settings(HERALD_RETENTION_DAYS=8).retention_days == 8


@pytest.mark.parametrize("days", [0.5, 1, 7, 7.9, -1])
def test_a_retention_shorter_than_an_escalation_wait_is_refused(days: float) -> None:
    with pytest.raises(ValidationError, match="HERALD_RETENTION_DAYS"):
        Settings(HERALD_RETENTION_DAYS=days)
