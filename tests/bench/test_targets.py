"""The bench's verdict on each target: met or missed from the run's own numbers, and what bounds a miss."""

from __future__ import annotations

import copy
from typing import Any

from bench import targets

RUN: dict[str, Any] = {
    "machine": {"cores": 2},
    "ceiling_wf_per_s": 80.0, "shape_eager_wf_per_s": 60.0, "e2e_per_s": 40.0,
    "ratio_e2e_to_ceiling": 0.5, "ratio_shape_eager_to_ceiling": 0.75, "ratio_e2e_to_shape_eager": 0.67,
    "herald": {"cpu_ms_per_notification": {"api": 4.0, "workers": 16.0, "temporal": 20.0, "bench": 1.0,
                                           "postgres": 4.0}},
    "cpu_ms_per_workflow_by_part": {"shape_eager": {"temporal": 12.0, "bench": 6.0}},
    "ingest": {"rate_per_s": 100.0, "seconds": 30, "refused": 0, "accept_p99_ms": 40.0,
               "cpu_ms_per_accept": {"api": 4.0, "workers": 6.0, "temporal": 7.0, "postgres": 2.0}},
    "ingest_alone": {"accept_p99_ms": 12.0, "cpu_ms_per_accept": {"api": 4.0}},
    "broadcast_worker_peak_rss_mb": 250.0, "broadcast": {"users": 500},
}


def by_target(run: dict[str, Any]) -> dict[str, targets.Verdict]:
    return {v.target.split(" x ")[-1].split(" at ")[0]: v for v in targets.verdicts(run)}


def test_each_target_is_judged_against_its_threshold() -> None:
    verdicts = by_target(RUN)
    assert [v.met for v in verdicts.values()] == [False, False, False, True]
    better = copy.deepcopy(RUN) | {"ratio_e2e_to_ceiling": 0.6, "ratio_e2e_to_shape_eager": 0.9,
                                   "broadcast_worker_peak_rss_mb": 300.0}
    better["ingest"]["accept_p99_ms"] = 25.0
    assert [v.met for v in by_target(better).values()] == [True, True, True, False]
    refused = copy.deepcopy(better)
    refused["ingest"]["refused"] = 3
    assert not by_target(refused)["accept p99 <= 25 ms"].met


def test_a_busy_machine_is_bounded_by_its_cores_and_an_idle_one_by_waiting() -> None:
    # 45 ms per notification at 40/s keeps 2 cores 90% busy.
    bound = by_target(RUN)["the eager shape"].bound
    assert bound.startswith("the cores (90% busy)") and "workers 16.0" in bound and "18.0 ms" in bound
    idle = RUN | {"e2e_per_s": 20.0}
    assert by_target(idle)["the eager shape"].bound.startswith("waiting, not CPU: the cores were 45% busy")


def test_a_shape_below_the_target_bounds_the_ratio_to_the_ceiling() -> None:
    assert "the cores" in by_target(RUN)["the ceiling"].bound
    slow_shape = RUN | {"ratio_shape_eager_to_ceiling": 0.55}
    assert by_target(slow_shape)["the ceiling"].bound.startswith("Temporal's cost of Herald's history shape")


def test_accept_latency_is_bounded_by_the_accept_path_or_by_the_drain_beside_it() -> None:
    assert by_target(RUN)["accept p99 <= 25 ms"].bound.startswith("sharing the cores with the drain (95% busy")
    slow_alone = copy.deepcopy(RUN)
    slow_alone["ingest_alone"]["accept_p99_ms"] = 30.0
    assert by_target(slow_alone)["accept p99 <= 25 ms"].bound.startswith("the accept path itself: p99 30.0 ms")


def test_rows_say_met_or_missed_and_why() -> None:
    rows = dict(targets.table_rows(RUN))
    assert rows["target: worker RSS < 300 MiB"] == "met: 250.0 MiB at its peak"
    assert rows["target: end to end >= 0.6 x the ceiling"].startswith("MISSED: 40.0 / 80.0 = 0.5; bounded by ")


def test_cores_taken_by_other_work_are_named_as_such() -> None:
    crowded = copy.deepcopy(RUN) | {"e2e_per_s": 20.0}
    crowded["herald"]["machine_busy_pct"] = 97.0
    assert by_target(crowded)["the eager shape"].bound.startswith(
        "the cores, taken by other work on the machine: 97% busy, this stack's share 45%")
    crowded["ingest"] |= {"rate_per_s": 20.0, "machine_busy_pct": 97.0}
    assert by_target(crowded)["accept p99 <= 25 ms"].bound.startswith(
        "other work on the machine: its cores were 97% busy, this stack's share 19%")


def test_the_broadcast_and_retention_are_judged_when_the_run_has_them() -> None:
    assert len(targets.verdicts(RUN)) == 4
    run = copy.deepcopy(RUN) | {"broadcast_s": 100.0, "broadcast": {"users": 10_000},
                                "retention": {"accept_p99_ms_alone": 20.0, "accept_p99_ms_deleting": 22.0,
                                              "ratio_p99_deleting_to_alone": 1.1, "deleted_per_s": 500}}
    broadcast, retention = targets.verdicts(run)[4:]
    assert broadcast.met and "100.0/s" in broadcast.measured and "69.5 users/s" in broadcast.target
    assert retention.met and "500 rows/s" in retention.bound
    slower = run | {"broadcast_s": 144.0}
    slower["retention"] = run["retention"] | {"ratio_p99_deleting_to_alone": 1.11}
    assert [v.met for v in targets.verdicts(slower)[4:]] == [False, False]
