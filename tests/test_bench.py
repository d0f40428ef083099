"""``ccgabm bench`` reports speed by phase and memory; benchmarks/mesa_ratio.py the Mesa ratio."""

from __future__ import annotations

import json
import subprocess
import sys

from support import ROOT

from ccgabm.behaviours import REGISTERED
from ccgabm.bench import main
from ccgabm.schedule import declared_phases


def test_bench_small_run_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main([str(ROOT / "configs" / "baseline.toml"), "--years", "1", "--scale", "0.05",
                 "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    run = result["run"]
    assert run["months"] == 12 and run["patient_months"] > 12 * 10_000
    assert list(run["phase_step_s"]) == [p.name for p, _, _ in declared_phases(REGISTERED)]
    assert run["peak_rss_bytes"] > 0 and run["patient_months_per_s"] > 0
    text = capsys.readouterr().out
    for word in ("patient-months/s", "by phase", "peak memory"):
        assert word in text


def test_bench_does_not_load_the_test_oracle(tmp_path):
    """The per-agent reference lives with the tests; a bench run never imports it."""
    code = (
        "import importlib.util, sys\n"
        "from ccgabm.bench import main\n"
        "assert importlib.util.find_spec('ccgabm.reference') is None\n"
        "main(['configs/baseline.toml', '--years', '1', '--scale', '0.02'])\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] == 'reference']\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def test_mesa_ratio_script_compares_both_sides(tmp_path):
    out = tmp_path / "ratio.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "mesa_ratio.py"), "--patients", "3000",
         "--months", "3", "--repeats", "1", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ref = json.loads(out.read_text())
    assert ref["ratio"] > 1 and ref["mesa_patient_months_per_s"] > 0
    assert "ratio" in done.stdout
