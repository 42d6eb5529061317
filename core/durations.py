"""Durations as the API writes them: "15m", "2h", "1d" (windows, periods, escalation delays)."""

from __future__ import annotations

WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def window_seconds(window: str) -> int:
    """"15m" -> 900. The API's schemas check the shape before anything calls this."""
    return int(window[:-1]) * WINDOW_UNITS[window[-1]]
