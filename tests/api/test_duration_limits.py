"""The longest duration each request field takes: a digest's window and an escalation's wait at most 7 days,
a throttle's period at most 31; one second longer is refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from api.schemas import DigestSpec, EscalateSpec, ThrottleSpec

LIMITS: list[tuple[type[BaseModel], dict[str, Any], str, str, str]] = [
    (DigestSpec, {"key": "k"}, "window", "7d", "604801s"),
    (EscalateSpec, {"to": ["sms"]}, "after", "168h", "8d"),
    (ThrottleSpec, {"limit": 1}, "period", "31d", "2678401s"),
]


@pytest.mark.parametrize(("spec", "rest", "field", "longest", "too_long"), LIMITS,
                         ids=[spec.__name__ for spec, *_ in LIMITS])
def test_the_longest_duration_is_taken_and_one_second_more_refused(
        spec: type[BaseModel], rest: dict[str, Any], field: str, longest: str, too_long: str) -> None:
    assert getattr(spec(**rest, **{field: longest}), field) == longest
    with pytest.raises(ValidationError) as refused:
        spec(**rest, **{field: too_long})
    (error,) = refused.value.errors()
    assert error["loc"] == (field,)
    assert "is longer than" in error["msg"]
