"""The render activity's refusals are permanent: a header injection in the subject, or a stored email address
that is not one mailbox, is a content error that retrying cannot fix."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.errors import NOT_FOUND, TEMPLATE_ERROR
from activities.render import render_with
from core.locales import Texts
from core.models import RenderInput
from core.recipients import SampleUser

TEMPLATE = Texts(subject="Hi {{ name }}", body="Hello {{ name }}")


def _input(data: dict[str, Any], to: dict[str, str] | None = None) -> RenderInput:
    return RenderInput(notification_id="n1", template="t", template_version=1, data=data, channels=["email"],
                       to=to if to is not None else {"email": "ada@example.com"})


@pytest.mark.parametrize("name", ["Ada\r\nBcc: evil@example.com", "Ada\nBcc: evil@example.com", "Ada\r"])
async def test_a_subject_with_a_line_break_is_a_permanent_template_error(name: str) -> None:
    with pytest.raises(ApplicationError) as caught:
        await render_with(_input({"name": name}), TEMPLATE, None)
    assert caught.value.non_retryable and caught.value.type == TEMPLATE_ERROR
    assert "subject" in caught.value.message


async def test_a_stored_email_that_is_a_list_is_refused_permanently() -> None:
    user = SampleUser(id="u1", name="Ada", email="a@example.com, b@example.org")
    with pytest.raises(ApplicationError) as caught:
        await render_with(_input({"name": "Ada"}, to={}), TEMPLATE, user)
    assert caught.value.non_retryable and caught.value.type == NOT_FOUND
    assert "b@example.org" not in caught.value.message


async def test_a_one_line_subject_renders() -> None:
    rendered = await render_with(_input({"name": "Ada"}), TEMPLATE, None)
    assert (rendered.subject, rendered.addresses) == ("Hi Ada", {"email": "ada@example.com"})
