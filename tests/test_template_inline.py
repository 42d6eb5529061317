"""`render_async` renders a small template on the event loop, and hands to a render thread whatever is large, MJML,
or takes longer than INLINE_SECONDS there, with the same result and the same errors as `render`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core import templating
from core.templating import INLINE_MAX_CHARS, INLINE_MAX_HTML_CHARS, Parts, TemplateError, Texts, render, render_async
from tests.test_template_safety import ATTACKS

SLOW = "{% for i in range(90000) %}{% if i == 89999 %}{{ i }}{% endif %}{% endfor %}"  # under 1 s, over 5 ms
MJML = "<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ name }}</mj-text></mj-column></mj-section>" \
       "</mj-body></mjml>"


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The renders handed to a render thread, by the name of what ran there."""
    handed: list[str] = []
    real = templating.in_render_thread

    async def counted(function: Callable[..., Any], *args: Any) -> Any:
        handed.append(getattr(function, "func", function).__name__)
        return await real(function, *args)

    monkeypatch.setattr(templating, "in_render_thread", counted)
    return handed


async def test_a_small_template_renders_on_the_loop(threads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Its first render compiles it too: on a busy machine that can take over 5 ms, and then it moves to a thread.
    monkeypatch.setattr(templating, "INLINE_SECONDS", 10.0)
    parts = Parts(layout_html="<div>{{ content }}</div>", includes={"sig": Texts(None, "-- {{ name }}", None)})
    args = ("Hi {{ name }}", "Hello {{ name }} {% include 'sig' %}", {"name": "Ada"}, "<p>Hello {{ name }}</p>")

    rendered = await render_async(*args, parts=parts)

    assert threads == []
    assert rendered == render(*args, parts=parts)
    assert rendered.body == "Hello Ada -- Ada"


async def test_a_small_template_that_takes_longer_is_rendered_again_in_a_thread(threads: list[str]) -> None:
    rendered = await render_async(None, SLOW, {})

    assert threads == ["render"]
    assert rendered.body == "89999"


async def test_large_html_from_a_small_template_is_finished_in_a_thread(threads: list[str]) -> None:
    html = "<style>p { color: red }</style><p>{{ 'x' * n }}</p>"

    rendered = await render_async(None, "", {"n": INLINE_MAX_HTML_CHARS + 1}, html)

    assert threads == ["render"]
    assert rendered.html is not None and 'style="color: red' in rendered.html  # its CSS inlined
    assert rendered.body.startswith("x" * 100)  # its text made from the html


@pytest.mark.parametrize("texts", [
    {"body": "y" * (INLINE_MAX_CHARS + 1)},
    {"body": "hi", "parts": Parts(includes={"big": Texts(None, "z" * INLINE_MAX_CHARS, None)})},
    {"body": "", "html": MJML},
], ids=["a long body", "a long include", "MJML"])
async def test_large_or_mjml_templates_render_in_a_thread(threads: list[str], texts: dict[str, Any]) -> None:
    rendered = await render_async(None, texts["body"], {"name": "Ada"}, texts.get("html"),
                                  parts=texts.get("parts", templating.NO_PARTS))

    assert threads == ["render"]
    assert rendered.body or rendered.html


@pytest.mark.parametrize("name", sorted(ATTACKS))
async def test_each_attack_is_stopped_with_the_error_render_gives(name: str) -> None:
    source, expected = ATTACKS[name]
    with pytest.raises(TemplateError, match=expected):
        await render_async(None, source, {"x": 1})
