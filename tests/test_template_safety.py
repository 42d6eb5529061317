"""Template attacks, each stopped with a clear error: attribute walks, endless loops, output bombs."""

from __future__ import annotations

import time

import pytest

from core.templating import MAX_OUTPUT_CHARS, TemplateError, render

ATTACKS = {
    "attribute walk": ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "sandbox forbids"),
    "format string walk": ("{{ '{0.__class__}'.format(x) }}", "sandbox forbids"),
    "huge range": ("{% for i in range(10**7) %}{% endfor %}", "exceeded a limit"),
    "nested loops with no output": ("{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
                                    "longer than"),
    "output bomb by repetition": ("{{ 'x' * 100000000 }}", "exceeded a limit"),
    "output bomb by loop": ("{% for a in range(99999) %}" + "y" * 100 + "{% endfor %}", "larger than"),
    "power bomb": ("{{ 10 ** 100000000 }}", "exponent too large"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_attack_is_stopped_quickly_with_a_clear_error(name: str) -> None:
    source, expected = ATTACKS[name]
    started = time.monotonic()
    with pytest.raises(TemplateError, match=expected):
        render(None, source, {"x": 1})
    assert time.monotonic() - started < 3.0


def test_html_bodies_are_escaped_but_plain_bodies_are_not() -> None:
    rendered = render("S", "{{ v }}", {"v": "<b>&"}, html="<p>{{ v }}</p>")
    assert rendered.body == "<b>&" and rendered.html == "<p>&lt;b&gt;&amp;</p>"


def test_ordinary_templates_within_the_limits_render() -> None:
    rendered = render("{{ n }} items", "{% for i in range(3) %}{{ i }},{% endfor %} {{ '-' * 10 }}", {"n": 3})
    assert (rendered.subject, rendered.body) == ("3 items", "0,1,2, ----------")
    assert len(render(None, "{{ 'z' * n }}", {"n": MAX_OUTPUT_CHARS}).body) == MAX_OUTPUT_CHARS
