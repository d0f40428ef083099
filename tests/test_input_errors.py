"""Every bad input gets one clear line, exit status 2, no traceback and nothing written.

Undefined figures are null with a reason (never inf, NaN or 1e11); output folders are checked
before a run and replaced whole; practice tables, sizes, seeds and options are validated.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from support import ROOT, small_config

from ccgabm import cli
from ccgabm import world as world_module
from ccgabm.analysis import AnalysisError, analyze
from ccgabm.config import MAX_PRACTICES, Config, load_config
from ccgabm.metrics import check_figures
from ccgabm.model import CommissioningModel
from ccgabm.outputs import OutputFolder, write_run, write_text_file
from ccgabm.params import CcgabmError, ConfigError, InputWarning
from ccgabm.practice_table import load_practice_table
from ccgabm.simulate import RunResult, run_simulation
from ccgabm.sweep import SpecError, StoreError, load_spec, run_sweep
from ccgabm.world import check_size, estimate_size

HEADER = "practice_code,ccg_code,ons_ccg_code,postcode,registered_patients_2021_01_01,imd2019_score\n"
TINY = "[run]\nyears = 1\n[region]\nn_groups = 2\npractices_per_group = 3\ntarget_population = 6000\n"


def ccgabm(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "ccgabm", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def assert_refused(proc, *fragments):
    """Exit 2, exactly one stderr line, an ``error:`` line naming every fragment."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def tiny_run(seed: int = 1, **overrides) -> RunResult:
    base = {"run.years": 1, "region.n_groups": 2, "region.practices_per_group": 3,
            "region.target_population": 6000}
    base.update(overrides)
    return run_simulation(Config().with_overrides(base), seed=seed)


def strict_json(path: Path) -> dict:
    def refuse(name):
        raise AssertionError(f"{path} holds {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


# ---- 1. figures never inf, NaN or nonsense -------------------------------------------------
def test_config_that_cannot_give_a_run_is_refused_with_key_and_reason(tmp_path, capsys):
    out = tmp_path / "out"
    cfg = write(tmp_path / "c.toml", TINY.replace("6000", "5"))
    assert_refused(ccgabm("run", str(cfg), "--out", str(out)),
                   "[region] target_population = 5", "at least one patient per practice")
    cfg = write(tmp_path / "c.toml", TINY + "[finance]\nallocation_per_head = 0.0\n")
    main_refused(capsys, ["run", str(cfg), "--out", str(out)],
                 "[finance] allocation_per_head = 0.0", "between 1.0 and")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]
    with pytest.raises(ConfigError, match="at most 32,766 practices"):
        Config().with_overrides({"region.n_groups": 300, "region.practices_per_group": 500})
    assert MAX_PRACTICES == 32766
    extreme = ("[population]\nltc_rate_at_30 = 5.0\nltc_growth_per_year = 0.2\n"
               "ltc_deprivation_years_earlier = 30.0\nimd_reference = 0.0\nimd_quintile_span = 1.0\n")
    cfg = write(tmp_path / "c.toml", TINY + extreme)  # each value within its own bounds
    assert_refused(ccgabm("run", str(cfg), "--out", str(out)), "ltc_growth_per_year = 0.2",
                   "imd_quintile_span = 1", "long-term conditions reaches infinity")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


def test_tiny_run_writes_null_figures_with_reasons(tmp_path):
    result = tiny_run(**{"world.scale": 1e-5})
    s = result.summary
    assert s["practice_referral_p90_p10"] is None
    assert s["emergency_gradient_q5_q1"] is None
    assert "10th percentile" in s["figure_notes"]["practice_referral_p90_p10"]
    write_run(result, tmp_path / "out")
    written = strict_json(tmp_path / "out" / "summary.json")
    for key, value in written.items():
        assert not (isinstance(value, float) and not math.isfinite(value)), key
    assert written["figure_notes"]["first_fracture_month"] == "no group fractured"
    assert set(written["figure_notes"]) >= {"practice_referral_p90_p10", "emergency_gradient_q5_q1"}


def test_small_lists_give_null_percentile_ratio_not_1e11():
    cfg = Config().with_overrides({"world.kind": "england", "world.scale": 0.001, "run.years": 1})
    s = run_simulation(cfg, seed=1).summary
    assert s["practice_referral_p90_p10"] is None
    assert "practice_referral_p90_p10" in s["figure_notes"]
    assert s["emergency_gradient_q5_q1"] is not None and math.isfinite(s["emergency_gradient_q5_q1"])


def test_a_normal_run_has_every_figure_and_no_notes_but_the_fracture_marker(small_cfg):
    s = run_simulation(small_cfg, seed=4).summary
    assert 1.0 < s["practice_referral_p90_p10"] < 5.0
    assert "figure_notes" not in s
    checked = check_figures(s)
    assert set(checked.get("figure_notes", {})) <= {"first_fracture_month"}


def test_check_figures_turns_every_non_finite_figure_into_null_with_a_reason():
    summary = {"a": math.inf, "b": np.float64("nan"), "c": {"x": -math.inf, "y": 2.0},
               "d": 1.5, "e": np.int64(3), "first_fracture_month": math.nan, "f": "text",
               "figure_notes": {"a": "given reason"}}
    out = check_figures(summary)
    assert out["a"] is None and out["b"] is None and out["c"] == {"x": None, "y": 2.0}
    assert out["d"] == 1.5 and out["e"] == 3 and type(out["e"]) is int and out["f"] == "text"
    notes = out["figure_notes"]
    assert notes["a"] == "given reason" and "c.x" in notes and "b" in notes
    assert notes["first_fracture_month"] == "no group fractured"
    json.dumps(out, allow_nan=False)
    assert check_figures({"a": 1.0}) == {"a": 1.0}


@dataclass
class _Result:
    summary: dict
    group_fates: pd.DataFrame = field(default_factory=pd.DataFrame)


def non_finite_run(config, seed):
    """A run_fn whose summary holds inf and NaN figures."""
    fates = pd.DataFrame({"group_id": ["g"], "start_month": [0], "end_month": [12], "fate": [""],
                          "fracture_month": [np.nan], "defection_month": [np.nan],
                          "return_month": [np.nan], "fractured": [False], "dissolved": [False],
                          "merged": [False]})
    return _Result({"ratio": math.inf, "rate": math.nan, "ok": 1.0,
                    "balances": {"g": -math.inf}}, fates)


def test_sweep_rows_never_hold_inf(tmp_path):
    base = write(tmp_path / "base.toml", TINY)
    spec = write(tmp_path / "spec.toml", '[sweep]\nbase = "base.toml"\nseed = 1\nreplications = 1\n'
                 'sampling = "grid"\n[axes]\n"finance.budget_pressure" = [0.0, 0.01]\n')
    assert base.is_file()
    report = run_sweep(spec, tmp_path / "store", run_fn=non_finite_run, progress=False)
    assert report.ok, report.format()
    for path in (tmp_path / "store" / "runs").glob("*.parquet"):
        for row in pq.read_table(path).to_pylist():  # a batch file holds several runs
            assert row["ratio"] is None and row["rate"] is None and row["balances.g"] is None
            assert row["ok"] == 1.0
            assert "not a finite number" in row["figure_notes.ratio"]
            for value in row.values():
                assert not (isinstance(value, float) and math.isinf(value))


# ---- 2. output folders ---------------------------------------------------------------------
def main_refused(capsys, argv, *fragments):
    """``ccgabm.cli.main`` in this process: status 2 and one ``error:`` line on stderr."""
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_out_checked_before_the_run(tmp_path, capsys, monkeypatch):
    cfg = write(tmp_path / "c.toml", TINY)
    assert_refused(ccgabm("run", str(cfg), "--out", "/proc/ccgabm-x"), "--out '/proc/ccgabm-x'",
                   "cannot be written")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    main_refused(capsys, ["run", str(cfg), "--out", ""], "--out ''", "name an output folder")
    main_refused(capsys, ["run", str(cfg), "--out", "."], "current folder")
    assert list(work.iterdir()) == []
    main_refused(capsys, ["run", str(cfg), "--out", str(cfg / "x")], "is a file, not a folder")
    main_refused(capsys, ["run", str(cfg), "--out", str(cfg)], "is a file; an output folder")
    main_refused(capsys, ["params", "--out", "/proc/ccgabm-x/params.md"], "--out", "cannot be written")
    main_refused(capsys, ["params", "--out", ""], "--out ''")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "work"]


def test_existing_folder_untouched_or_fully_replaced(tmp_path):
    out = tmp_path / "out"
    write_run(tiny_run(), out)
    (out / "summary.json").unlink()
    (out / "summary.json").mkdir()
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir())
    with pytest.raises(ConfigError, match="holds a folder 'summary.json' that a run does not write"):
        write_run(tiny_run(), out)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir()) == before
    (out / "summary.json").rmdir()
    (out / "leftover.parquet").write_bytes(b"old")
    result = tiny_run(seed=7)
    write_run(result, out)
    assert not (out / "leftover.parquet").exists()
    assert strict_json(out / "summary.json")["seed"] == 7
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_stale_staging_cleaned_and_interrupted_swap_restored(tmp_path):
    out = tmp_path / "out"
    dead = 2**22 + 12345  # above the kernel's pid limit: no such process
    (tmp_path / f".out-partial-{dead}-abc").mkdir()
    (tmp_path / ".out-partial-oldstyle").mkdir()
    old = tmp_path / f".out-old-{dead}-def"
    old.mkdir()
    (old / "summary.json").write_text("{}")
    with OutputFolder(out) as folder:  # killed between the renames: old results put back
        assert (out / "summary.json").read_text() == "{}"
        assert folder.staging.name.startswith(f".out-partial-{os.getpid()}-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    live = tmp_path / f".out-partial-{os.getppid()}-xyz"  # a live process's staging is kept
    live.mkdir()
    with OutputFolder(out):
        pass
    assert live.is_dir()


def test_failure_during_the_run_leaves_nothing(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    with pytest.raises(RuntimeError), OutputFolder(out) as folder:
        assert folder.staging.is_dir()
        raise RuntimeError("the run failed")
    assert list(tmp_path.iterdir()) == []
    target = write_text_file(tmp_path / "x" / "p.md", "text")
    assert target.read_text() == "text"
    with pytest.raises(ConfigError, match="is a folder"):
        write_text_file(tmp_path / "x", "text")


# ---- 3. practice tables --------------------------------------------------------------------
BAD_TABLES = {
    "empty": ("", "the file is empty"),
    "header only": (HEADER, "holds no practices"),
    "huge list": (HEADER + "A1,G1,E1,NE1 1AA,1e30,10\n", "registered_patients_2021_01_01, row 1 "
                  "(practice A1): 1e+30 is not allowed: must be a whole number"),
    "part of a patient": (HEADER + "A1,G1,E1,NE1 1AA,10.5,10\n", "10.5 is not allowed"),
    "text list": (HEADER + "A1,G1,E1,NE1 1AA,many,10\n", "'many' is not allowed"),
    "negative list": (HEADER + "A1,G1,E1,NE1 1AA,-5,10\n", "-5 is not allowed"),
    "all blank imd": (HEADER + "A1,G1,E1,NE1 1AA,100,\nA2,G1,E1,NE1 1AB,100,\n",
                      "imd2019_score is blank in every row"),
    "text imd": (HEADER + "A1,G1,E1,NE1 1AA,100,high\n", "imd2019_score, row 1 (practice A1): 'high'"),
    "infinite imd": (HEADER + "A1,G1,E1,NE1 1AA,100,inf\n", "inf is not allowed"),
    "imd past 100": (HEADER + "A1,G1,E1,NE1 1AA,100,500\n", "500 is not allowed"),
    "blank group": (HEADER + "A1,,E1,NE1 1AA,100,20\n", "ccg_code, row 1 (practice A1)"),
    "repeated code": (HEADER + "A1,G1,E1,,100,20\nA1,G1,E1,,100,20\n", "'A1' repeats (rows 1, 2)"),
    "all closed": (HEADER + "A1,G1,E1,NE1 1AA,0,20\n", "no practice with registered patients"),
    "ragged": (HEADER + "A1,G1,E1,NE1 1AA,100,20,extra\n", "more fields than the header"),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_tables_refused_naming_column_row_and_value(tmp_path, case):
    text, message = BAD_TABLES[case]
    path = write(tmp_path / "t.csv", text)
    with pytest.raises(ConfigError, match="table_path") as info:
        load_practice_table(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_binary_table_and_too_many_practices(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(HEADER.encode() + b"A1,G1,E1,\xff\xfe,100,20\n")
    with pytest.raises(ConfigError, match="not a UTF-8 text CSV"):
        load_practice_table(path)
    rows = "".join(f"P{i},G{i % 50},E,,10,20\n" for i in range(MAX_PRACTICES + 1))
    with pytest.raises(ConfigError, match="holds 32,767 practices with patients; a run holds at most"):
        load_practice_table(write(tmp_path / "big.csv", HEADER + rows))


def test_blank_and_clipped_scores_are_filled_with_a_warning(tmp_path):
    path = write(tmp_path / "t.csv", HEADER + "A1,G1,E1,,100,\nA2,G1,E1,,100,30\nA3,G2,E1,,100,0.5\n"
                 "A4,G2,E1,,0,20\n")
    with pytest.warns(InputWarning) as record:
        df = load_practice_table(path)
    text = str(record[0].message)
    assert "1 blank imd2019_score values (first: practice A1) filled" in text
    assert "1 imd2019_score values outside 1..90 clipped" in text
    assert "1 practices with 0 registered patients left out" in text
    assert list(df["imd"]) == [30.0, 30.0, 0.5] and list(df["code"]) == ["A1", "A2", "A3"]


def test_bad_table_from_the_command_line(tmp_path):
    write(tmp_path / "t.csv", HEADER)
    cfg = write(tmp_path / "c.toml", '[run]\nyears = 1\n[world]\nkind = "table"\n'
                'table_path = "t.csv"\n')
    assert_refused(ccgabm("run", str(cfg), "--out", str(tmp_path / "out")), "t.csv",
                   "holds no practices")
    assert not (tmp_path / "out").exists()


# ---- 4. sizes bounded before memory is allocated ---------------------------------------------
def test_memory_estimate_refuses_before_allocating_and_force_overrides(tmp_path, monkeypatch):
    cfg = small_config(**{"run.years": 1})
    size = estimate_size(cfg)
    assert size.practices == 8 and size.patients == 20_000 and size.slots >= 25_000
    monkeypatch.setattr(world_module, "available_memory", lambda: 1000)
    with pytest.raises(ConfigError, match=r"the run needs 8 practices, ~20,000 patients .* more "
                       r"than the 0.0 GiB of memory available.*--force"):
        CommissioningModel(cfg, seed=1)
    assert CommissioningModel(cfg, seed=1, force=True).patients_start > 0
    path = write(tmp_path / "c.toml", TINY)
    out = tmp_path / "out"
    assert cli.main(["run", str(path), "--out", str(out), "--no-progress"]) == 2
    assert not out.exists()
    assert cli.main(["run", str(path), "--out", str(out), "--no-progress", "--force"]) == 0
    assert (out / "summary.json").is_file()


def test_oversized_run_refused_on_the_command_line(tmp_path):
    cfg = write(tmp_path / "c.toml", "[run]\nyears = 50\n[region]\ntarget_population = 100000000\n"
                "[population]\nbirth_rate = 50.0\nin_registration_rate = 100.0\n")
    assert_refused(ccgabm("run", str(cfg), "--out", str(tmp_path / "out")), "the run needs",
                   "GiB", "[region] target_population", "--force")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="more than the"):
        check_size(load_config(cfg))


# ---- 5. other options and API arguments ---------------------------------------------------
def test_binary_config_and_bad_options_get_one_line(tmp_path):
    binary = tmp_path / "c.toml"
    binary.write_bytes(b"[run]\nyears = 1\n# caf\xe9 \x00\x89PNG\n")
    for command in (["run", str(binary), "--out", str(tmp_path / "out")], ["viz", str(binary)],
                    ["bench", str(binary)]):
        assert_refused(ccgabm(*command), "not a text file in UTF-8")
    assert_refused(ccgabm("viz", "--port", "70000"), "--port", "between 0 and 65535")
    assert_refused(ccgabm("analyze", str(tmp_path), "--years", "nan"), "--years",
                   "finite number of years above 0")
    assert not (tmp_path / "out").exists()


def _bad_spec(tmp_path: Path) -> Path:
    return write(tmp_path / "spec.toml", "[sweep]\nbase = 'none.toml'\nseed = -1\n")


API_CASES = {
    "load_config(None)": lambda tmp: load_config(None),
    "load_config(folder)": lambda tmp: load_config(tmp),
    "load_config(binary)": lambda tmp: load_config(_binary(tmp)),
    "with_overrides(list)": lambda tmp: Config().with_overrides(["run.years"]),
    "with_overrides(None)": lambda tmp: Config().with_overrides(None),
    "with_overrides(int key)": lambda tmp: Config().with_overrides({1: 2}),
    "with_overrides(None value)": lambda tmp: Config().with_overrides({"run.years": None}),
    "from_dict(list)": lambda tmp: Config.from_dict([]),
    "run_simulation(dict)": lambda tmp: run_simulation({"run": {"years": 1}}),
    "run_simulation(seed=1.5)": lambda tmp: run_simulation(Config(), seed=1.5),
    "model(seed=1.5)": lambda tmp: CommissioningModel(Config(), seed=1.5),
    "model(seed=2**70)": lambda tmp: CommissioningModel(Config(), seed=2**70),
    "model(seed=-1)": lambda tmp: CommissioningModel(Config(), seed=-1),
    "model(seed=True)": lambda tmp: CommissioningModel(Config(), seed=True),
    "model(None)": lambda tmp: CommissioningModel(None),
    "run_sweep(missing spec)": lambda tmp: run_sweep(tmp / "none.toml", tmp / "s"),
    "run_sweep(bad spec)": lambda tmp: run_sweep(_bad_spec(tmp), tmp / "s"),
    "run_sweep(None)": lambda tmp: run_sweep(None, tmp / "s"),
    "run_sweep(int spec)": lambda tmp: run_sweep(5, tmp / "s"),
    "run_sweep(out=None)": lambda tmp: run_sweep(_bad_spec(tmp), None),
    "run_sweep(jobs=0)": lambda tmp: run_sweep(_bad_spec(tmp), tmp / "s", jobs=0),
    "run_sweep(backend)": lambda tmp: run_sweep(_bad_spec(tmp), tmp / "s", backend="mpi"),
    "load_spec(binary)": lambda tmp: load_spec(_binary(tmp)),
    "analyze(None)": lambda tmp: analyze(None),
    "analyze(not a store)": lambda tmp: analyze(tmp),
    "analyze(years=nan)": lambda tmp: analyze(tmp, years=(math.nan,)),
    "analyze(years=5)": lambda tmp: analyze(tmp, years=5),
}


def _binary(tmp: Path) -> Path:
    path = tmp / "b.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    return path


@pytest.mark.parametrize("case", list(API_CASES))
def test_public_api_raises_the_projects_own_errors(tmp_path, case):
    with pytest.raises(CcgabmError) as info:
        API_CASES[case](tmp_path)
    assert not isinstance(info.value, AttributeError | TypeError)
    assert "\n" not in str(info.value)


def test_error_hierarchy():
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, CcgabmError)
    for error in (SpecError, StoreError, AnalysisError):
        assert issubclass(error, CcgabmError) and issubclass(error, ValueError)


def test_outputs_get_the_usual_permissions_and_replace_in_one_step(tmp_path, monkeypatch):
    import os

    from ccgabm import outputs

    old = os.umask(0o022)
    try:
        out = tmp_path / "out"
        outputs.write_run(tiny_run(), out)
        assert out.stat().st_mode & 0o777 == 0o755
        assert (out / "summary.json").stat().st_mode & 0o777 == 0o644
        text = outputs.write_text_file(tmp_path / "p.md", "x")
        assert text.stat().st_mode & 0o777 == 0o644
        calls = []
        real = outputs.exchange
        monkeypatch.setattr(outputs, "exchange", lambda a, b: calls.append(1) or real(a, b))
        outputs.write_run(tiny_run(seed=2), out)  # replaces: one exchange, nothing left beside
        assert calls == [1] and sorted(p.name for p in tmp_path.iterdir()) == ["out", "p.md"]
    finally:
        os.umask(old)
