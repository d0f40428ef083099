"""``ccgabm bench`` reports speed by phase and memory; benchmarks/mesa_ratio.py the Mesa ratio."""

from __future__ import annotations

import json
import re
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
    for word in ("patient-months/s", "by phase", "peak memory", "organisation layer"):
        assert word in text


def test_organisation_layer_is_every_phase_but_patients_less_the_wait_for_trust():
    from ccgabm.bench import _organisation_layer

    run = {"months": 120, "trust_wait_s": 0.12,
           "phase_step_s": {"patients": 0.003, "billing": 0.001, "decommissioning": 0.0025}}
    assert abs(_organisation_layer(run, run) - 0.0025) < 1e-12  # 3.5 ms less 1 ms of waiting
    assert abs(_organisation_layer({"phase_step_s": run["phase_step_s"]}, run) - 0.0035) < 1e-12


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


def test_saved_results_are_kept_one_file_per_run_and_tabulated(tmp_path, capsys):
    folder = tmp_path / "results"
    args = [str(ROOT / "configs" / "baseline.toml"), "--years", "1", "--scale", "0.02", "--save",
            "--results", str(folder)]
    assert main(args) == 0
    assert main([*args, "--tag", "laptop-a"]) == 0
    files = sorted(folder.glob("*.json"))
    assert len(files) == 2
    tagged = [f for f in files if f.name.endswith("-laptop-a.json")]
    assert len(tagged) == 1 and re.fullmatch(r"\d{8}T\d{6}Z-laptop-a\.json", tagged[0].name)
    result = json.loads(tagged[0].read_text())
    m = result["machine"]
    for key in ("cpu_model", "cpus", "memory_bytes", "os", "python", "numpy", "numba", "git_commit"):
        assert key in m
    assert m["cpus"] >= 1 and result["machine_tag"] == "laptop-a" and result["years"] == 1
    (folder / "notes.json").write_text('{"not": "a result"}')
    capsys.readouterr()
    assert main(["--history", "--results", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "laptop-a" in text and "baseline.toml" in text and "patient-months/s" in text
    assert "skipped 1 files" in text and "notes.json" in text


def test_save_never_replaces_a_kept_result(tmp_path):
    from ccgabm.bench import save_result

    result = {"started_utc": "2026-01-02T03:04:05Z", "machine_tag": "m"}
    first = save_result(result, "{}\n", tmp_path)
    second = save_result(result, "{}\n", tmp_path)
    assert [first.name, second.name] == ["20260102T030405Z-m.json", "20260102T030405Z-m-2.json"]


def test_bad_tag_and_missing_history_folder_are_one_line_errors(tmp_path, capsys):
    from ccgabm.cli import main as cli_main

    assert cli_main(["bench", "configs/baseline.toml", "--save", "--tag", "a/b"]) == 2
    assert cli_main(["bench", "--history", "--results", str(tmp_path / "none")]) == 2
    assert cli_main(["bench", "configs/baseline.toml", "--repeat", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "--tag" in err[0] and "--results" in err[1]
    assert "--repeat 0" in err[2]


def test_repeat_times_warm_runs_in_the_same_process(tmp_path, capsys):
    """Runs after the first are timed as in a warm worker; the history table shows them."""
    from ccgabm.bench import format_history, load_history, save_result

    out = tmp_path / "bench.json"
    assert main([str(ROOT / "configs" / "baseline.toml"), "--years", "1", "--scale", "0.02",
                 "--repeat", "3", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    warm = result["warm"]
    assert warm["runs"] == 2 and warm["startup_s"] > 0 and warm["simulate_s"] > 0
    assert list(warm["phase_step_s"]) == list(result["run"]["phase_step_s"])
    assert "warm (median of 2 more runs" in capsys.readouterr().out
    save_result(result, out.read_text(), tmp_path / "kept")
    table = format_history(load_history(tmp_path / "kept")[0])
    assert "warm s" in table.splitlines()[0]
    assert f"{warm['wall_s']:7.2f}" in table.splitlines()[2]
