"""Locale tags and the choice of a template's translation for one recipient."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from babel import Locale, UnknownLocaleError

# BCP 47's shape for what a template may be translated into: a language, then an optional script, region and
# variants (`fr`, `fr-CA`, `pt-BR`, `zh-Hant-TW`, `ca-ES-valencia`).
_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?"
                  r"(-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$")
MAX_TAG_CHARS = 35


class LocaleTagError(ValueError):
    pass


def canonical(tag: str) -> str:
    """The tag in its usual spelling (`fr-ca` → `fr-CA`, `zh-hant-tw` → `zh-Hant-TW`); LocaleTagError when it is
    not a BCP 47 tag or names nothing CLDR knows."""
    if len(tag) > MAX_TAG_CHARS or not _TAG.match(tag):
        raise LocaleTagError(f"'{tag[:MAX_TAG_CHARS]}' is not a locale tag: give a BCP 47 tag such as fr, fr-CA, "
                             "pt-BR or zh-Hant-TW")
    parts = tag.split("-")
    spelled = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            spelled.append(part.title())
        elif len(part) in (2, 3) and len(spelled) <= 2:
            spelled.append(part.upper())
        else:
            spelled.append(part.lower())
    result = "-".join(spelled)
    try:
        Locale.parse(result, sep="-")
    except (UnknownLocaleError, ValueError) as exc:
        raise LocaleTagError(f"'{tag}' is not a locale CLDR knows") from exc
    return result


def babel_locale(tag: str) -> Locale:
    """The Babel locale for a tag; English when a stored tag no longer parses (a user's free-form locale)."""
    try:
        return Locale.parse(tag.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def _tried(tag: str | None) -> list[str]:
    """A tag as given, then its language alone (`fr-CA` → `fr-CA`, `fr`); lower case, for comparison."""
    if not tag:
        return []
    given = tag.replace("_", "-").lower()
    language = given.split("-")[0]
    return [given] if language == given else [given, language]


@dataclass(frozen=True)
class Choice:
    """The texts to render and the locales they render in."""

    subject: str | None
    body: str
    html: str | None
    locale: str  # recorded on the notification: the translation used, or the default locale for the own text
    format_locale: str  # numbers, dates and plurals follow this one: the recipient's tag that found the text
    translated: bool


class Translatable(Protocol):
    """What the choice reads of a template version: its own texts and its translations by tag (each a mapping
    with "subject", "body" and "html"). A stored version (`store.templates.TemplateRecord`) is one."""

    @property
    def subject(self) -> str | None: ...
    @property
    def body(self) -> str: ...
    @property
    def html(self) -> str | None: ...
    @property
    def locales(self) -> Mapping[str, Mapping[str, Any]]: ...


@dataclass(frozen=True)
class Texts:
    """Template texts nobody stored yet: the editor's unsaved form."""

    subject: str | None
    body: str
    html: str | None = None
    locales: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def choose(template: Translatable, requested: str | None, user_locale: str | None, default: str) -> Choice:
    """The notification's locale, else the user's, else the default, each as given and then by language; then
    the template's own text, which is taken to be written in the default locale."""
    translations = template.locales or {}
    by_key = {tag.lower(): tag for tag in translations}
    for wanted in (requested, user_locale, default):
        for key in _tried(wanted):
            if key in by_key:
                tag = by_key[key]
                text = translations[tag]
                assert wanted is not None
                return Choice(subject=text.get("subject"), body=text["body"], html=text.get("html"), locale=tag,
                              format_locale=wanted, translated=True)
    return Choice(subject=template.subject, body=template.body, html=template.html, locale=default,
                  format_locale=default, translated=False)
