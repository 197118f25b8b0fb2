"""The benchmark prints one row per model with parameters, GMACs and timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from restore.evaluation.bench import main


def test_bench_reports_a_row_per_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "--models",
                "plain-tiny,ndr-tiny",
                "--sizes",
                "0.01",
                "--repeats",
                "1",
                "--big",
                "0",
                "--device",
                "cpu",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "| plain-tiny |" in text and "| ndr-tiny |" in text
    rows = json.loads(out.read_text())["rows"]
    assert [r["model"] for r in rows] == ["plain-tiny", "ndr-tiny"]
    assert all(r["gmac_per_mp"] > 0 and r["s_per_mp_0.01"] > 0 for r in rows)
    assert rows[1]["params_m"] > rows[0]["params_m"]  # the NDR modules add parameters
