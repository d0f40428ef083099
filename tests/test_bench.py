"""``ccgabm bench`` reports speed by phase, memory and the ratio to the Mesa reference."""

from __future__ import annotations

import json

from support import ROOT

from ccgabm.bench import PHASES, main


def test_bench_small_run_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main([str(ROOT / "configs" / "baseline.toml"), "--years", "1", "--scale", "0.05",
                 "--reference-patients", "3000", "--reference-months", "3", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    run = result["run"]
    assert run["months"] == 12 and run["patient_months"] > 12 * 10_000
    assert set(PHASES) <= set(run["phase_step_s"])
    assert run["peak_rss_bytes"] > 0 and run["patient_months_per_s"] > 0
    ref = result["reference"]
    assert ref["ratio"] > 1 and ref["mesa_patient_months_per_s"] > 0
    text = capsys.readouterr().out
    for word in ("patient-months/s", "by phase", "peak memory", "ratio"):
        assert word in text
