"""The formatting filters in core.templating: the render's locale, not the first one a template met, and the
sandbox's limits."""

from __future__ import annotations

from typing import Any

import babel.numbers
import pytest

from core import locales
from core.templating import MAX_STEPS, TemplateError, render


def test_a_compiled_template_formats_in_each_renders_locale() -> None:
    # Constants too: Jinja would otherwise fold `{{ 1000|number }}` once, at compile time, into one locale's text.
    source = "{{ 1000|number }} {{ 259200|timedelta }} {{ 1|plural(one='1', other='n') }} {{ x|number }}"
    assert render(None, source, {"x": 0.5}, locale="de").body == "1.000 3 Tage 1 0,5"
    assert render(None, source, {"x": 0.5}, locale="en").body == "1,000 3 days 1 0.5"
    assert render(None, source, {"x": 0.5}).body == "1,000 3 days 1 0.5"  # no locale: English


def test_filters_stay_within_the_sandboxs_limits() -> None:
    with pytest.raises(TemplateError, match="more than 100 digits"):
        render(None, "{{ x|number }}", {"x": "9" * 5000})
    with pytest.raises(TemplateError, match="CLDR pattern of at most"):
        render(None, "{{ '2026-01-01T00:00:00Z'|datetime(p) }}", {"p": "y" * 10_000})


def test_formatting_calls_spend_the_renders_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every formatting call counts against the render's steps and deadline, also inside `map`, where no loop of
    # the template's own counts the items: the render stops part way, not after formatting all of them.
    calls = 0
    original = babel.numbers.format_decimal

    def counted(*args: Any, **kwargs: Any) -> str:
        nonlocal calls
        calls += 1
        return str(original(*args, **kwargs))

    monkeypatch.setattr(babel.numbers, "format_decimal", counted)
    items = MAX_STEPS + 50_000
    with pytest.raises(TemplateError, match="exceeded a limit"):
        render(None, "{{ xs|map('number')|list|length }}", {"xs": [1234.5] * items}, locale="fr")
    assert calls <= MAX_STEPS


def test_locale_tags() -> None:
    assert locales.canonical("zh-hant-tw") == "zh-Hant-TW"
    assert locales.canonical("FR-ca") == "fr-CA"
    for bad in ("xx", "fr_CA", "english", "fr-CA-x", ""):
        with pytest.raises(locales.LocaleTagError):
            locales.canonical(bad)


def test_the_fallback_chain() -> None:
    template = locales.Texts(subject="S", body="own", html=None,
                             locales={"fr": {"subject": None, "body": "fr", "html": None},
                                      "pt-BR": {"subject": None, "body": "pt-BR", "html": None}})
    assert locales.choose(template, None, "fr-CA", "en").locale == "fr"
    assert locales.choose(template, None, "fr-CA", "en").format_locale == "fr-CA"
    assert locales.choose(template, "pt-br", "fr", "en").locale == "pt-BR"
    assert locales.choose(template, "pt-PT", "fr", "en").locale == "fr"  # pt-PT → pt: none; then the user's
    assert locales.choose(template, "de", "it", "fr").locale == "fr"  # then the default's
    own = locales.choose(template, "de", None, "en")
    assert (own.locale, own.body, own.translated) == ("en", "own", False)
