"""Rendering a template the way the worker will, for checks before anything is stored or changed: accept, an
in-flight data edit, a preview."""

from __future__ import annotations

from typing import Any

from core import locales, templating
from core.errors import invalid
from core.recipients import Recipient
from services.template_parts import Composition, parts_for


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
