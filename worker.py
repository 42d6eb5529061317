"""Runs one Herald worker: `python worker.py`. Several may run at once against the same task queue."""

from __future__ import annotations

from hosting.workers import ensure_reconcile_schedule, herald_worker, main, run

# Tests and tools that start a worker in-process take these from here or from hosting.workers.
__all__ = ["ensure_reconcile_schedule", "herald_worker", "main", "run"]

if __name__ == "__main__":
    main()
