"""A template version is compiled once per process: compiling costs more than rendering, and every notification
renders. Each render of the same version after the first, whatever its data, recipient or locale formatting,
takes the compiled template from the cache; a new version (new source) is compiled once too."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import Template

from activities.render import render_with
from core import templating
from core.locales import Texts
from core.models import RenderInput
from core.recipients import SampleUser

VERSION_1 = Texts(subject="Hi {{ user.name }}", body="Your code is {{ code }}.",
                  html="<p>Your code is <b>{{ code }}</b>.</p>")
VERSION_2 = Texts(subject="Hello {{ user.name }}", body="Code: {{ code }}", html=None)


def _input(code: str) -> RenderInput:
    return RenderInput(notification_id=f"n-{code}", template="otp", template_version=1,
                       data={"code": code}, channels=["email"])


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources compiled from now on, in a cache of the test's own (empty at the start)."""
    sources: list[str] = []
    monkeypatch.setattr(templating, "_cache", templating._TemplateCache(templating.MAX_CACHE_CHARS))
    for env in (templating._env, templating._html_env):
        def counting(source: str, *args: Any, _real: Any = env.from_string, **kwargs: Any) -> Template:
            sources.append(source)
            return _real(source, *args, **kwargs)  # type: ignore[no-any-return]
        monkeypatch.setattr(env, "from_string", counting)
    return sources


async def test_each_version_is_compiled_once_whatever_the_data_and_recipient(compiled: list[str]) -> None:
    users = [SampleUser(id=f"u{i}", name=f"User {i}", email=f"u{i}@example.com", locale=locale, timezone=zone)
             for i, (locale, zone) in enumerate([("en", None), ("fr", "Europe/Paris"), ("de", "UTC")])]
    first = await render_with(_input("1"), VERSION_1, users[0])
    assert len(compiled) == 3  # subject, text and html
    for i, user in enumerate(users * 3):
        rendered = await render_with(_input(str(i + 10)), VERSION_1, user)
        assert rendered.subject == f"Hi {user.name}" and f"{i + 10}" in rendered.body
    assert len(compiled) == 3 and first.subject == "Hi User 0"

    await render_with(_input("2"), VERSION_2, users[1])
    await render_with(_input("3"), VERSION_2, users[2])
    assert len(compiled) == 5 and compiled[3:] == ["Hello {{ user.name }}", "Code: {{ code }}"]
