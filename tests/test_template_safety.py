"""Template attacks, each stopped with a clear error: attribute walks, endless loops, output bombs, and values
blown up inside the render (padding, formats, powers, joins, concatenation) before they reach the output."""

from __future__ import annotations

import time

import pytest

from core import templating
from core.templating import MAX_OUTPUT_CHARS, TemplateError, render

ATTACKS = {
    "attribute walk": ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "sandbox forbids"),
    "format string walk": ("{{ '{0.__class__}'.format(x) }}", "sandbox forbids"),
    "huge range": ("{% for i in range(10**7) %}{% endfor %}", "exceeded a limit"),
    "nested loops with no output": ("{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
                                    "exceeded a limit"),
    "output bomb by repetition": ("{{ 'x' * 100000000 }}", "exceeded a limit"),
    "output bomb by loop": ("{% for a in range(99999) %}" + "y" * 100 + "{% endfor %}", "larger than"),
    "power bomb": ("{{ 10 ** 100000000 }}", "exponent too large"),
    # Bounded only when the sandbox checks each operation before it runs:
    "padding method": ('{{ "x".ljust(2**31) }}', "would exceed"),
    "padding method, literal width": ('{{ "x".center(2147483647) }}', "would exceed"),
    "padding filter, folded at compile time": ('{{ "x"|center(2147483647) }}', "would exceed"),
    "percent format width": ('{{ "%2147483647d" % 1 }}', "would exceed"),
    "percent format filter": ('{{ "%2147483647d"|format(1) }}', "would exceed"),
    "brace format width": ('{{ "{:>2147483647}".format(1) }}', "would exceed"),
    "brace format width from data": ('{{ "{:{w}}".format(1, w=2147483647) }}', "format spec taken from the data"),
    "nested powers": ("{{ 9**9**9**9**9**9**9**9 }}", "exponent too large"),
    "squaring in a loop": ("{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
                           "{% endfor %}", "would exceed"),
    "doubling by ~": ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                      "{% endfor %}", "would exceed"),
    "doubling by +": ("{% set ns = namespace(s=['x']) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
                      "{% endfor %}", "would exceed"),
    "repeating a long item": ("{{ (['x' * 500000] * 500000)|length }}", "would exceed"),
    "join with a long separator": ("{{ range(100000)|join('x' * 500000) }}", "would exceed"),
    "join method with a long separator": ("{{ ('x' * 500000).join(['a'] * 100000) }}", "would exceed"),
    "replace amplification": ("{{ ('x' * 500000)|replace('x', 'y' * 500000) }}", "would exceed"),
    "replace method amplification": ("{{ ('x' * 500000).replace('x', 'y' * 500000) }}", "would exceed"),
    "indent amplification": ("{{ ('\n' * 500000)|indent(100000) }}", "would exceed"),
    "wordwrap with a long wrapstring": ("{{ ('x ' * 200000)|wordwrap(1, wrapstring='y' * 100000) }}",
                                        "would exceed"),
    "batch filler": ("{{ [1]|batch(1000000000, 'x')|list|length }}", "would exceed"),
    "slice into a billion parts": ("{{ [1]|slice(1000000000)|list|length }}", "'slice' into"),
    "tojson indent": ("{{ range(1000)|list|tojson(indent=1000000000) }}", "would exceed"),
    "lipsum": ("{{ lipsum(1000000) }}", "'lipsum' of more"),
    "fromkeys of a long value": ("{{ {}.fromkeys(range(100000), 'x' * 500000)|length }}", "would exceed"),
    "to_bytes length": ("{{ (1).to_bytes(2147483647, 'big')|length }}", "would exceed"),
    "printing a huge list": ("{% set l = ['x' * 5000] * 100 %}{{ [l, l, l, l, l, l, l, l, l, l, l, l] }}",
                             "would exceed"),
    "macro recursion that prints nothing": ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
                                            "{% endmacro %}{{ f(40) }}", "exceeded a limit"),
    # Over lists, not `range` (whose own iterator checks the deadline):
    "recursive loop that prints nothing": ("{% set xs = range(20)|list %}{% for x in xs recursive %}"
                                           "{% if loop.depth < 9 %}{{ loop(xs) }}{% endif %}{% endfor %}",
                                           "exceeded a limit"),
    "filtered loop that never matches": ("{% set xs = range(20000)|list %}{% for a in xs %}"
                                         "{% for b in xs if b < 0 %}{% endfor %}{% endfor %}", "exceeded a limit"),
    "a filter mapped over a long sequence": ("{{ range(100000)|map('replace', '', 'y' * 50000)|join|length }}",
                                             "characters of values"),
    "list.append is refused": ("{% set l = [] %}{{ l.append(1) }}", "sandbox forbids"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_attack_is_stopped_quickly_with_a_clear_error(name: str) -> None:
    source, expected = ATTACKS[name]
    started = time.monotonic()
    with pytest.raises(TemplateError, match=expected):
        render(None, source, {"x": 1})
    assert time.monotonic() - started < 3.0


def test_loops_over_data_that_print_nothing_are_stopped() -> None:
    """The data is within the API's limits (64 KiB); the work a template does with it is not, unless counted."""
    xs = list(range(20_000))
    started = time.monotonic()
    with pytest.raises(TemplateError, match="exceeded a limit"):
        render(None, "{% for a in data.xs %}{% for b in data.xs %}{% endfor %}{% endfor %}", {"data": {"xs": xs}})
    with pytest.raises(TemplateError, match="loop iterations and calls"):
        render(None, "{% for a in data.xs %}{% for b in data.xs %}{% endfor %}{% endfor %}", {"data": {"xs": xs}})
    assert time.monotonic() - started < 3.0


def test_the_template_cache_is_bounded_by_size_not_count() -> None:
    cache = templating._TemplateCache(max_chars=100_000)
    for i in range(20):
        cache.get(f"{{{{ {i} }}}}" + "x" * 10_000, False)
    count, chars = cache.usage()
    assert chars <= 100_000 and count < 20
    huge = "y" * 200_000  # larger than the whole cache: rendered, never kept
    assert cache.get(huge, False).render() == huge and cache.usage()[1] <= 100_000


def test_html_bodies_are_escaped_but_plain_bodies_are_not() -> None:
    rendered = render("S", "{{ v }}", {"v": "<b>&"}, html="<p>{{ v }}</p>")
    assert rendered.body == "<b>&" and rendered.html == "<p>&lt;b&gt;&amp;</p>"


def test_ordinary_templates_within_the_limits_render() -> None:
    rendered = render("{{ n }} items", "{% for i in range(3) %}{{ i }},{% endfor %} {{ '-' * 10 }}", {"n": 3})
    assert (rendered.subject, rendered.body) == ("3 items", "0,1,2, ----------")
    assert len(render(None, "{{ 'z' * n }}", {"n": MAX_OUTPUT_CHARS}).body) == MAX_OUTPUT_CHARS
    ordinary = ("{{ '%05.1f' % 3.14159 }} {{ '{:>6}'.format(n) }} {{ 'ab'.ljust(4, '.') }} {{ 2 ** 10 }} "
                "{{ [1, 2] + [3] }} {{ 'a' ~ n }} {{ ['x', 'y']|join(', ') }} {{ 'a-b'|replace('-', '+') }} "
                "{% for i in [1, 2] if i > 1 %}{{ loop.index }}{% endfor %} {{ 10 ** 20 * 3 }}")
    assert render(None, ordinary, {"n": 3}).body == ("003.1      3 ab.. 1024 [1, 2, 3] a3 x, y a+b 1 "
                                                     "300000000000000000000")
