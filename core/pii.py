"""Masks what must not reach logs: email addresses, phone numbers, and Herald's own keys and tokens.

Installed as the process's log record factory, so every record is masked once, whoever logs it (Herald, uvicorn,
the Temporal SDK reporting an activity failure whose message names an address), before any handler sees it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_EMAIL = re.compile(r"\b([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})\b")
# A phone number: 7 to 15 digits, maybe a leading +, maybe spaced or dashed, not part of a longer token.
_PHONE = re.compile(r"(?<![\w/.:-])(?!\d{4}-\d\d-\d\d)(\+?\d[\d ()\-]{5,17}\d)(?![\w/.:-])")
_SECRET = re.compile(r"\b(hk_[0-9a-f]+_|hut_|whsec_)[A-Za-z0-9_\-+/=]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)\S+")


def _phone(match: re.Match[str]) -> str:
    number = match.group(1)
    digits = re.sub(r"\D", "", number)
    if not 7 <= len(digits) <= 15:
        return number
    return ("+" if number.startswith("+") else "") + "*" * (len(digits) - 2) + digits[-2:]


def mask(text: str) -> str:
    text = _BEARER.sub(r"\1***", text)
    text = _SECRET.sub(r"\1***", text)
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(_phone, text)


def _masked_arg(value: Any) -> Any:
    if value is None or isinstance(value, int | float | bool):
        return value
    return mask(str(value))


_installed = False


def install() -> None:
    """Masks every log record made in this process from now on (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        # Arguments are masked one by one rather than formatted here: formatters such as uvicorn's access log
        # read record.args as a tuple.
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _masked_arg(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
