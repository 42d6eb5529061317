"""Rendering a template the way the worker will, for checks before anything is stored or changed: accept, an
in-flight data edit, a preview."""

from __future__ import annotations

from typing import Any

from core import locales, templating
from core.errors import invalid
from core.recipients import Recipient
from services.template_parts import Composition, parts_for

# An action's URL opens in the user's browser: only web links and paths of the customer's own app.
_SAFE_URL_STARTS = ("https://", "http://", "/")


async def render_or_422(template: locales.Translatable, data: dict[str, Any], user: Recipient | None,
                        locale: str | None = None, default_locale: str = "en",
                        composition: Composition | None = None) -> templating.Rendered:
    """The message in the locale the worker would choose (the given one, else the user's, else the default), in
    the composition's layout and with its includes, rendered in a render thread (the event loop keeps serving);
    422 naming what went wrong."""
    choice = locales.choose(template, locale, user.locale if user else None, default_locale)
    try:
        return await templating.render_async(choice.subject, choice.body, templating.context_for(data, user),
                                             choice.html, locale=choice.format_locale,
                                             timezone=user.timezone if user else None,
                                             parts=parts_for(composition, choice.locale))
    except templating.TemplateError as exc:
        code = "missing_variable" if exc.variable else "template_error"
        field = f"data.{exc.variable}" if exc.variable else exc.field
        raise invalid(field, exc.message, code=code, variable=exc.variable) from exc


async def render_actions_or_422(actions: list[tuple[str, str]], template: locales.Translatable,
                                data: dict[str, Any], user: Recipient | None, locale: str | None = None,
                                default_locale: str = "en") -> list[dict[str, str]]:
    """Each action's label and URL rendered as templates with the notification's data; 422 naming the action's
    field (or the missing variable), or a URL that is no web link or path."""
    choice = locales.choose(template, locale, user.locale if user else None, default_locale)
    rendered = []
    for index, (label, url) in enumerate(actions):
        try:
            # The label renders as a subject does: one line.
            text = await templating.render_async(label, url, templating.context_for(data, user),
                                                 locale=choice.format_locale,
                                                 timezone=user.timezone if user else None)
        except templating.TemplateError as exc:
            part = {"subject": "label", "body": "url"}.get(exc.field or "", exc.field)
            field = f"data.{exc.variable}" if exc.variable else f"actions.{index}.{part}"
            raise invalid(field, f"actions.{index}: {exc.message}",
                          code="missing_variable" if exc.variable else "template_error",
                          variable=exc.variable) from exc
        link = text.body.strip()
        if not link.startswith(_SAFE_URL_STARTS) or link.startswith("//"):
            raise invalid(f"actions.{index}.url", f"renders to {link[:80]!r}: an action's URL must start with "
                          "https://, http:// or / (a path of your app)")
        rendered.append({"label": text.subject, "url": link})
    return rendered
