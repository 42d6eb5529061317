"""A one-line progress bar on stderr: what runs, how far it is, and how fast it goes."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int, unit: str = "", quiet: bool = False) -> None:
        self.label, self.total, self.unit = label, max(total, 1), unit
        self.quiet = quiet  # counts without drawing (while another bar has the line)
        self.started = time.monotonic()
        self._last_draw = 0.0
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if not self.quiet and (now - self._last_draw >= 0.2 or done >= self.total):
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        filled = int(30 * min(self.done, self.total) / self.total)
        bar = "#" * filled + "." * (30 - filled)
        sys.stderr.write(f"\r  {self.label:<26} [{bar}] {self.done:>7}/{self.total} {self.unit}"
                         f" {self.done / elapsed:7.1f}/s {elapsed:6.1f}s ")
        sys.stderr.flush()

    def close(self, note: str = "") -> None:
        self._draw(time.monotonic())
        sys.stderr.write(f" {note}\n")
        sys.stderr.flush()
