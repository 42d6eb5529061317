"""Template filters that write numbers, money, dates and plurals as CLDR does for the recipient's locale.

The locale and time zone are the render's, set by core.templating for the length of one render: a compiled
template is shared by every recipient, so the filters read them at call time rather than at compile time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers

from core.locales import babel_locale

# A number with more digits than this before its point is no amount or count a message shows; bounding it keeps
# Babel from writing (and a template from asking for) megabytes of digits.
MAX_NUMBER_DIGITS = 100
MAX_PATTERN_CHARS = 100  # a CLDR date pattern: 'EEEE d MMMM y, HH:mm' is 20
MAX_PLURAL_FORM_CHARS = 10_000
_NAMED_FORMATS = ("short", "medium", "long", "full")
_PLURAL_FORMS = ("zero", "one", "two", "few", "many", "other")


class FilterInputError(ValueError):
    """A value a formatting filter cannot format: a template error, named after the filter."""

    def __init__(self, filter_name: str, message: str):
        super().__init__(f"filter '{filter_name}': {message}")
        self.filter_name = filter_name


@dataclass(frozen=True)
class _Where:
    locale: Locale
    zone: tzinfo


_where: ContextVar[_Where | None] = ContextVar("herald_render_locale", default=None)


@lru_cache(maxsize=256)
def _locale(tag: str) -> Locale:
    return babel_locale(tag)


@lru_cache(maxsize=256)
def _zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@contextmanager
def formatting_in(locale: str | None, timezone: str | None) -> Iterator[None]:
    """Filters called inside format for `locale` (English when None) in `timezone` (UTC when None)."""
    token = _where.set(_Where(_locale(locale or "en"), _zone(timezone)))
    try:
        yield
    finally:
        _where.reset(token)


def _here() -> _Where:
    return _where.get() or _Where(_locale("en"), UTC)


def _number(value: Any, name: str) -> Decimal:
    """A JSON number or a numeric string, as a Decimal (exact: 0.1 stays 0.1)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise FilterInputError(name, f"expects a number, got {type(value).__name__}")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value)) \
            if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise FilterInputError(name, f"expects a number, got '{str(value)[:40]}'") from None
    if not number.is_finite():
        raise FilterInputError(name, "expects a finite number")
    if number.adjusted() >= MAX_NUMBER_DIGITS:
        raise FilterInputError(name, f"the number has more than {MAX_NUMBER_DIGITS} digits")
    if number.adjusted() < -MAX_NUMBER_DIGITS:
        number = Decimal(0)
    return number


def number(value: Any) -> str:
    """`{{ 1234.5|number }}` → `1 234,5` (fr), `1,234.5` (en)."""
    return str(babel_numbers.format_decimal(_number(value, "number"), locale=_here().locale))


def currency(value: Any, code: Any) -> str:
    """`{{ 1234.5|currency("EUR") }}` → `1 234,50 €` (fr), `€1,234.50` (en)."""
    amount = _number(value, "currency")
    if not isinstance(code, str) or code.upper() not in _currencies():
        raise FilterInputError("currency", f"'{str(code)[:20]}' is not an ISO 4217 currency code")
    return str(babel_numbers.format_currency(amount, code.upper(), locale=_here().locale))


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    return frozenset(babel_numbers.list_currencies())


def _moment(value: Any, name: str) -> datetime | date:
    """A datetime or date, or an ISO 8601 string of one (data is JSON). A time without an offset is UTC."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise FilterInputError(name, f"expects an ISO 8601 date or time, got '{text[:40]}'") from None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    raise FilterInputError(name, f"expects a date or time, got {type(value).__name__}")


def _pattern(format: Any, name: str) -> str:
    if not isinstance(format, str) or not format or len(format) > MAX_PATTERN_CHARS:
        raise FilterInputError(name, f"the format is short, medium, long, full or a CLDR pattern of at most "
                                     f"{MAX_PATTERN_CHARS} characters")
    return format


def datetime_(value: Any, format: Any = "medium") -> str:
    """`{{ at|datetime("long") }}`: the date and time in the recipient's time zone."""
    moment = _moment(value, "datetime")
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(0), tzinfo=UTC)
    here = _here()
    try:
        return str(babel_dates.format_datetime(moment, _pattern(format, "datetime"), tzinfo=here.zone,
                                               locale=here.locale))
    except (ValueError, KeyError) as exc:
        raise FilterInputError("datetime", f"bad format: {exc}") from None


def date_(value: Any, format: Any = "medium") -> str:
    """`{{ at|date("full") }}`: the day in the recipient's time zone (a plain date stays that date)."""
    moment = _moment(value, "date")
    here = _here()
    day = moment.astimezone(here.zone).date() if isinstance(moment, datetime) else moment
    try:
        return str(babel_dates.format_date(day, _pattern(format, "date"), locale=here.locale))
    except (ValueError, KeyError) as exc:
        raise FilterInputError("date", f"bad format: {exc}") from None


def time_(value: Any, format: Any = "short") -> str:
    """`{{ at|time }}`: the time of day in the recipient's time zone."""
    moment = _moment(value, "time")
    if not isinstance(moment, datetime):
        raise FilterInputError("time", "expects a time, got a date without one")
    here = _here()
    try:
        return str(babel_dates.format_time(moment, _pattern(format, "time"), tzinfo=here.zone,
                                           locale=here.locale))
    except (ValueError, KeyError) as exc:
        raise FilterInputError("time", f"bad format: {exc}") from None


def timedelta_(value: Any, format: Any = "long", granularity: Any = "second") -> str:
    """`{{ 259200|timedelta }}` → `3 days`: a number of seconds, or a date or time (then relative to now:
    `in 3 days`, `3 days ago`)."""
    if format not in ("long", "short", "narrow"):
        raise FilterInputError("timedelta", "the format is long, short or narrow")
    if granularity not in ("year", "month", "week", "day", "hour", "minute", "second"):
        raise FilterInputError("timedelta", "the granularity is year, month, week, day, hour, minute or second")
    direction = False
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        seconds = float(_number(value, "timedelta"))
        delta = timedelta(seconds=max(min(seconds, 1e12), -1e12))
    elif isinstance(value, timedelta):
        delta = value
    else:
        moment = _moment(value, "timedelta")
        if not isinstance(moment, datetime):
            moment = datetime.combine(moment, time(0), tzinfo=_here().zone)
        delta, direction = moment - datetime.now(UTC), True
    return str(babel_dates.format_timedelta(delta, granularity=granularity, format=format,
                                            add_direction=direction, locale=_here().locale))


def plural_form(n: Any) -> str:
    """The CLDR plural category of `n` in the recipient's locale: zero, one, two, few, many or other."""
    return str(_here().locale.plural_form(_number(n, "plural")))


def plural(n: Any, **forms: Any) -> str:
    """`{{ count|plural(one="file", few="files", many="files", other="files") }}`: the form the locale's plural
    rules pick for `n`, else `other`."""
    unknown = sorted(set(forms) - set(_PLURAL_FORMS))
    if unknown:
        raise FilterInputError("plural", f"unknown form(s) {', '.join(unknown)}; the forms are "
                                         f"{', '.join(_PLURAL_FORMS)}")
    category = plural_form(n)
    chosen = forms.get(category, forms.get("other"))
    if chosen is None:
        raise FilterInputError("plural", f"{n} takes the form '{category}' in {_here().locale}, and neither it nor "
                                         "'other' was given")
    text = str(chosen)
    if len(text) > MAX_PLURAL_FORM_CHARS:
        raise FilterInputError("plural", f"a form is longer than {MAX_PLURAL_FORM_CHARS} characters")
    return text


FILTERS: dict[str, Any] = {
    "number": number, "currency": currency, "datetime": datetime_, "date": date_, "time": time_,
    "timedelta": timedelta_, "plural": plural,
}
