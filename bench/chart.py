"""The PNG next to each result: notifications finished over time, and accept latency over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    timeline = result["herald"]["timeline"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    t, final = timeline["t"], timeline["final"]
    top.plot(t, final, label="finished (delivered or dead-lettered)")
    accepted_t = sorted(timeline["accepted_t"])
    top.plot(accepted_t, range(1, len(accepted_t) + 1), label="accepted by the API")
    top.set_ylabel("notifications")
    machine = result["machine"]
    top.set_title(f"Herald e2e {result['e2e_per_s']}/s vs ceiling {result['ceiling_wf_per_s']}/s "
                  f"and naive {result['naive_wf_per_s']}/s ({machine['cores']} cores)")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.scatter(timeline["accepted_t"], timeline["accept_ms"], s=3, alpha=0.5)
    bottom.set_ylabel("accept latency (ms)")
    bottom.set_xlabel("seconds since the first request")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_soak(result: dict[str, Any], path: Path) -> None:
    """Resident memory of each process over the soak: growth shows as a slope, a plateau is healthy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    soak = result["soak"]
    samples = soak["rss_samples"]
    fig, ax = plt.subplots(figsize=(9, 4))
    for name in samples[0][1]:
        ax.plot([t for t, _ in samples], [s[name] for _, s in samples],
                label=f"{name} ({soak['rss_growth_pct'][name]:+.1f}% last minute vs second)")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS (MiB)")
    ax.set_title(f"Soak: {soak['rate_per_s']:.0f}/s for {soak['seconds']:.0f} s, {soak['accepted']} notifications, "
                 f"{soak['deadlock_warnings']} deadlock warnings")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
