"""Each drill scenario on the local stack, end to end and hands off: steady traffic, the fault, breakers,
health checks, alarms and workflows acting by themselves, the fault lifted, failback; then the report.

Time compressed x240 (stated in each report) so that a scenario runs in CI time; every KPI must be
within the runbook's target (provider-failover.md, Key Performance Indicators)."""

from __future__ import annotations

import json
import struct

import pytest

from local.drill import runner
from local.drill.report import PNG_SIGNATURE
from local.drill.scenarios import SCENARIOS, Compression

CI_COMPRESSION = 240.0


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature and the chunk's name."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_drill_runs_hands_off_and_its_report_shows_every_kpi_within_the_runbook_target(name, local_stack, tmp_path):
    settings = runner.DrillSettings(compression=Compression(CI_COMPRESSION), out_dir=tmp_path)
    lines: list[str] = []

    result = runner.run(SCENARIOS[name], local_stack, settings, progress=lines.append)

    report = result.report_path.read_text()
    assert report.startswith(f"# Drill report: {name}")
    assert f"Time compressed x{CI_COMPRESSION:g}" in report
    width, height = png_size(result.chart_path.read_bytes())
    assert width >= 600 and height >= 400
    summary = json.loads(result.json_path.read_text())
    assert summary["scenario"] == name and summary["compression"] == CI_COMPRESSION
    assert any("fault:" in line for line in lines), "progress is shown while the drill runs"
    table = "\n".join(lines[-1:])
    missed = [k["name"] for k in summary["kpis"] if not k["meetsRunbook"]]
    assert not missed, f"{name}: {missed} outside the runbook's targets\n{table}\n{result.report_path}"
