"""Process logging: one line per event, JSON (HERALD_LOG_FORMAT=json, the default) or text, at HERALD_LOG_LEVEL,
with personal data masked (core/pii.py) before any handler sees a record.

A JSON line carries `ts`, `level`, `logger`, `message`, then whichever of the context fields the event has:
`notification_id`, `workflow_id`, `channel`, `attempt`, `provider`, `outcome`, ... Code adds them with
`extra={...}`; inside Temporal activities and workflows the SDK's own context (`temporal_activity`,
`temporal_workflow`) fills in the workflow id and attempt when the caller did not.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from core import pii
from core.settings import Settings

CONTEXT_FIELDS = ("notification_id", "workflow_id", "broadcast_id", "channel", "attempt", "provider", "outcome",
                  "priority", "status", "task_queue", "error")
# LogRecord's own attributes: anything else on a record came in through `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        temporal = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None) or {}
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is None and field in ("workflow_id", "attempt"):
                value = temporal.get(field)
            if value is not None:
                # Ids and enums hold no personal data; an error message may name an address.
                line[field] = pii.mask(value) if field == "error" and isinstance(value, str) else value
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line and not key.startswith("temporal_"):
                line[key] = value if isinstance(value, int | float | bool) else pii.mask(str(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(settings: Settings) -> None:
    """Sets up the root logger of an API or worker process (not of tests: they keep pytest's capture)."""
    pii.install()
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # uvicorn installs handlers of its own; through the root they get the same format and masking.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
