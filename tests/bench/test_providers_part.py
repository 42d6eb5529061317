"""The bench part `providers` runs at a tiny size and reports each adapter next to the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import providers
from providers.base import OutgoingMessage, Provider


async def test_the_part_measures_each_adapter_against_the_gateway_and_draws_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks: list[tuple[str, int]] = []
    timed = providers._block

    async def watched(sender: Provider, outgoing: list[OutgoingMessage]) -> tuple[float, float]:
        blocks.append((sender.name, len(outgoing)))
        return await timed(sender, outgoing)

    monkeypatch.setattr(providers, "_block", watched)
    result = await providers.measure(12, frozenset({"discord", "apns"}), rounds=4, seed=7)

    assert result["sends_each"] == 12 and result["rounds"] == 4 and result["sends_per_block"] == 3
    names = {"gateway", "discord", "apns"}
    # Every round is one block of each, the gateway's included, in an order of its own.
    rounds = [[name for name, _ in blocks[i:i + 3]] for i in range(0, len(blocks), 3)]
    assert len(rounds) == 4 and all(set(order) == names for order in rounds)
    assert all(size == 3 for _, size in blocks)
    assert len({tuple(order) for order in rounds}) > 1
    assert set(result["cpu_ms_per_send"]) == names
    assert all(ms > 0 for ms in result["cpu_ms_per_send"].values())
    for name in ("discord", "apns"):
        low, high = result["extra_cpu_ms_iqr"][name]
        assert low <= result["extra_cpu_ms_over_gateway"][name] <= high
    rows = dict(providers.table_rows(result))
    assert any("gateway" in label and "median of 4 rounds" in label for label in rows)
    assert {label.split(":")[0].strip() for label in rows} >= {"discord", "apns"}
    chart = tmp_path / "providers.png"
    providers.draw(result, chart)
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_a_round_that_a_burst_of_load_fell_on_does_not_move_the_result() -> None:
    low, median, high = providers.quartiles([0.4, 0.5, 0.6, 9.0])
    assert median == pytest.approx(0.55) and low == pytest.approx(0.475) and high == pytest.approx(2.7)
    assert providers.quartiles([0.3]) == (0.3, 0.3, 0.3)


def test_sends_split_into_rounds_of_blocks_long_enough_to_time() -> None:
    assert providers.rounds_for(1000) == (20, 50)
    assert providers.rounds_for(200) == (20, 10)
    assert providers.rounds_for(50) == (5, 10)
    assert providers.rounds_for(4) == (1, 4)
