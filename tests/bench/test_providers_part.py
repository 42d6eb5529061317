"""The bench part `providers` runs at a tiny size and reports each adapter next to the gateway."""

from __future__ import annotations

from pathlib import Path

from bench import providers


async def test_the_part_measures_each_adapter_against_the_gateway_and_draws_it(tmp_path: Path) -> None:
    result = await providers.measure(10, frozenset({"discord", "apns"}))

    assert result["sends_each"] == 10
    assert set(result["cpu_ms_per_send"]) == {"gateway", "discord", "apns"}
    assert all(ms > 0 for ms in result["cpu_ms_per_send"].values())
    gateway = result["cpu_ms_per_send"]["gateway"]
    for name in ("discord", "apns"):
        assert result["extra_cpu_ms_over_gateway"][name] == round(result["cpu_ms_per_send"][name] - gateway, 3)
    rows = dict(providers.table_rows(result))
    assert any("gateway" in label for label in rows)
    assert {label.split(":")[0].strip() for label in rows} >= {"discord", "apns"}
    chart = tmp_path / "providers.png"
    providers.draw(result, chart)
    assert chart.read_bytes().startswith(b"\x89PNG")

