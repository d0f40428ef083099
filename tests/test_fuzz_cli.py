"""The command line on malformed and extreme inputs: a run ends ok or with one clean error.

Every input (a scenario file, a practice table, a sweep spec, an argument list) is run as
``python -m ccgabm ...`` in its own scratch folder under a memory cap and a time limit, and
``fuzz_inputs.classify`` names the outcome; only ``ok`` and ``clean_error`` pass (the outcomes
are defined in tests/fuzz_inputs.py).

Default profile (part of the normal suite, well under a minute on two cores): the classifier on
made-up results, the strategies' own checks, and a few derandomized hypothesis examples of each
input kind (mostly refused at validation, two inputs at a time), with two tiny real runs.
Long profile: ``pytest -m slow tests/test_fuzz_cli.py`` draws many more examples and runs every
case of the named catalogue (``fuzz_inputs.catalogue()``) one by one. ``benchmarks/fuzz_outcomes.py``
runs the catalogue on a pool and prints the outcome table.
"""

from __future__ import annotations

import json
import signal
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fuzz_inputs as fi
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

# No shrinking: each example is a child process of seconds, and a failure prints its whole input.
_COMMON = dict(deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
               suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much, HealthCheck.large_base_example))
DEFAULT = settings(derandomize=True, **_COMMON)
LONG = settings(max_examples=25, **_COMMON)


def pairs(strategy: st.SearchStrategy[fi.Case]) -> st.SearchStrategy[list[fi.Case]]:
    """Two distinct inputs, run side by side (the machine has two cores)."""
    return st.lists(strategy, min_size=2, max_size=2, unique_by=lambda c: c.key)


def run_all(cases: list[fi.Case], store: Path | None = None) -> list[fi.Result]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda c: fi.run_case(c, store), cases))


def assert_clean(results: list[fi.Result]) -> None:
    bad = [r for r in results if not r.passed]
    if bad:
        pytest.fail("\n\n".join(
            f"{r.name}: {r.outcome} (exit {r.returncode}, {r.seconds:.1f} s)\n  input: {r.input}\n"
            f"  stderr: {r.stderr_first or '(empty)'}\n  finding: {r.detail}\n"
            f"  stderr tail:\n{fi.squeeze(r.stderr_tail[-1500:])}"
            for r in bad
        ), pytrace=False)


# --------------------------------------------------------------------------------------------
# The classifier, on made-up results
# --------------------------------------------------------------------------------------------

RUN = fi.Case("t", ("run", "cfg.toml", "--out", "out"), outputs=(("out", "run"),))
SUMMARY = {"years_simulated": 1, "population_start": 100, "emergency_admissions_per_1000": 98.0,
           "share_referred_per_year": 0.15, "first_fracture_month": None,
           "group_balances": {"G00": -5.0e5}}


def _write_run(out: Path, summary: dict | str = SUMMARY, skip: str = "") -> None:
    out.mkdir(parents=True)
    for name in fi._RUN_FILES:
        if name != skip:
            (out / name).write_text("x")
    if skip != "summary.json":
        text = summary if isinstance(summary, str) else json.dumps(summary)
        (out / "summary.json").write_text(text)


def _classify(tmp_path: Path, rc: int | None, err: str = "", out: str = "", case: fi.Case = RUN,
              timed_out: bool = False, before: dict | None = None) -> str:
    before = {} if before is None else before
    return fi.classify(case, rc, out, err, timed_out, before, fi.snapshot(tmp_path), tmp_path)[0]


USAGE = ("usage: ccgabm run [-h] --out OUT [--seed SEED] [--years YEARS]\n"
         "                  [--no-progress]\n                  config\n"
         "ccgabm run: error: argument --years: must be a positive integer, got 0\n")


def test_clean_errors_are_one_error_line_or_argparse_usage(tmp_path):
    assert _classify(tmp_path, 2, "error: cfg.toml: [finance] pace_of_change = 7 is out of range\n") == \
        "clean_error"
    assert _classify(tmp_path, 2, USAGE) == "clean_error"
    assert fi.stderr_shape(USAGE) == "usage_error"
    assert _classify(tmp_path, 2, "error: a\nerror: b\n") == "misleading"
    assert _classify(tmp_path, 2, "note: x\nerror: a\n") == "misleading"
    assert _classify(tmp_path, 2, "error: \n") == "misleading"
    assert _classify(tmp_path, 1, "error: bad value\n") == "misleading"  # exit status must be 2
    assert _classify(tmp_path, 1, "") == "misleading"
    assert _classify(tmp_path, 0, "error: bad value\n", case=fi.Case("t", ("schedule",))) == "misleading"


def test_tracebacks_crashes_and_failed_sweep_runs(tmp_path):
    tb = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom\n'
    assert _classify(tmp_path, 1, tb) == "traceback"
    assert _classify(tmp_path, 0, tb) == "traceback"
    assert _classify(tmp_path, -int(signal.SIGSEGV)) == "traceback"
    sweep = fi.Case("s", ("sweep", "spec.toml"))
    report = ("sweep store: 1 runs planned, 0 already done, 0 completed, 1 failed in 1.0 s\n"
              "  FAILED point 0 rep 0: ValueError: boom  (see failures/point-00000_rep-00000.json)\n")
    assert _classify(tmp_path, 1, report, case=sweep) == "traceback"
    assert fi._exception_line(tb) == "ValueError: boom"


def test_memory_and_hang(tmp_path):
    tb = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
          "numpy._core._exceptions._ArrayMemoryError: Unable to allocate 763. MiB\n")
    assert _classify(tmp_path, 1, tb) == "memory"
    assert _classify(tmp_path, -int(signal.SIGKILL)) == "memory"
    assert _classify(tmp_path, 2, "error: not enough memory: Cannot allocate memory\n") == "clean_error"
    assert _classify(tmp_path, None, "", timed_out=True) == "hang"


def test_ok_needs_complete_outputs_and_finite_figures(tmp_path):
    _write_run(tmp_path / "out")
    assert _classify(tmp_path, 0, out="100 patients, 1 years: emergency admissions 98.0/1,000/yr") == "ok"
    assert _classify(tmp_path, 0, out="emergency admissions nan/1,000/yr") == "wrong"
    assert _classify(tmp_path, 0, out="financial inference") == "ok"  # words, not figures


@pytest.mark.parametrize("summary, outcome", [
    ('{"years_simulated": 1, "mean_wait_months": NaN}', "wrong"),
    ('{"years_simulated": 1, "spend_per_head": Infinity}', "wrong"),
    ('{"group_balances": {"G00": -Infinity}}', "wrong"),
    ('{"years_simulated": 1, "mean_wait_months": null}', "ok"),
    ('{"emergency_admissions_per_1000": -3.0}', "wrong"),
    ('{"share_referred_per_year": 1.5}', "wrong"),
    ('{"spend_per_head": 1e300}', "wrong"),
    ('{"budget_per_need_gap": -0.2, "group_balances": {"G00": -1e9}}', "ok"),
    ("not json", "wrong"),
])
def test_summary_figures(tmp_path, summary, outcome):
    _write_run(tmp_path / "out", summary)
    assert _classify(tmp_path, 0) == outcome


def test_half_written(tmp_path):
    _write_run(tmp_path / "out", skip="overview.png")
    assert _classify(tmp_path, 0) == "half_written"  # incomplete after exit 0
    (tmp_path / "out" / "overview.png").write_text("x")
    (tmp_path / ".out-partial-abc").mkdir()
    assert _classify(tmp_path, 0) == "half_written"  # staging left behind


def test_a_failed_command_leaves_everything_as_it_was(tmp_path):
    (tmp_path / "cfg.toml").write_text("x")
    before = fi.snapshot(tmp_path)
    err = "error: cfg.toml: not valid TOML\n"
    assert _classify(tmp_path, 2, err, before=before) == "clean_error"
    (tmp_path / "out").mkdir()
    assert _classify(tmp_path, 2, err, before=before) == "half_written"  # an empty output folder
    (tmp_path / "out").rmdir()
    (tmp_path / "cfg.toml").write_text("changed!")
    assert _classify(tmp_path, 2, err, before=before) == "half_written"


def test_exit_zero_for_an_input_that_must_be_refused_is_misleading(tmp_path):
    case = fi.Case("t", ("schedule", "cfg.toml"), must_fail=True)
    assert _classify(tmp_path, 0, out="Order of play", case=case) == "misleading"
    assert _classify(tmp_path, 2, "error: x is out of range\n", case=case) == "clean_error"


# --------------------------------------------------------------------------------------------
# The strategies themselves (no child processes)
# --------------------------------------------------------------------------------------------


@settings(DEFAULT, max_examples=60)
@given(fi.config_value_cases())
def test_generated_configs_are_the_toml_they_claim(case):
    """Refused values are refused for what they are, not for broken TOML; runs stay tiny."""
    text = dict(case.files)["cfg.toml"].decode()
    data = tomllib.loads(text)
    assert set(fi.TINY) <= set(data)
    if case.args[0] == "run":
        assert fi.is_tiny(data)


def test_refused_values_are_outside_each_declaration():
    for p in fi.parameters():
        for what, value in fi.refused_values(p):
            assert not fi._fits(p, value), (p.dotted, what, value)
        for value in fi.extreme_values(p):
            assert p.dotted in fi.SPECIAL or fi._fits(p, value), (p.dotted, value)


def assert_safe(case: fi.Case) -> None:
    """Writes stay in the scratch folder (or fail under /proc); no server stays up; few workers."""
    for flag, value in zip(case.args, case.args[1:], strict=False):
        if flag in ("--out", "--json", "-o"):
            assert not value.startswith("/") or value.startswith("/proc/"), (case.name, value)
        if flag in ("--jobs", "-j"):
            assert fi._few_workers(value), (case.name, value)
    if case.args[:1] == ("viz",):
        assert case.timeout <= fi.VIZ_TIMEOUT, case.name


def test_catalogue_is_large_distinct_and_safe():
    cases = fi.catalogue()
    assert len(cases) >= 200
    assert len({c.key for c in cases}) == len(cases)
    assert {c.args[0] for c in cases if c.args} >= {"run", "sweep", "analyze", "params", "schedule",
                                                  "bench", "viz"}
    for case in cases:
        assert_safe(case)
        if case.args[:1] == ("viz",):
            assert case.must_fail, case.name


@settings(DEFAULT, max_examples=150)
@given(fi.any_case())
def test_drawn_cases_are_safe(case):
    assert_safe(case)


# --------------------------------------------------------------------------------------------
# Default profile: a few real inputs of each kind
# --------------------------------------------------------------------------------------------


@settings(DEFAULT, max_examples=2)
@given(pairs(fi.config_value_cases()))
def test_fuzz_config_values(cases):
    assert_clean(run_all(cases))


@settings(DEFAULT, max_examples=2)
@given(pairs(fi.config_value_cases(refused=True)))
def test_fuzz_config_refused_values(cases):
    assert_clean(run_all(cases))


@settings(DEFAULT, max_examples=2)
@given(st.tuples(fi.config_bytes_cases(), fi.table_cases()))
def test_fuzz_config_bytes_and_practice_tables(cases):
    assert_clean(run_all(list(cases)))


@settings(DEFAULT, max_examples=2)
@given(st.tuples(fi.sweep_spec_cases(), fi.cli_arg_cases()))
def test_fuzz_sweep_specs_and_arguments(cases):
    assert_clean(run_all(list(cases)))


# --------------------------------------------------------------------------------------------
# Long profile
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@LONG
@given(pairs(fi.config_value_cases()))
def test_fuzz_config_values_long(cases):
    assert_clean(run_all(cases))


@pytest.mark.slow
@LONG
@given(pairs(fi.config_bytes_cases()))
def test_fuzz_config_bytes_long(cases):
    assert_clean(run_all(cases))


@pytest.mark.slow
@LONG
@given(pairs(fi.table_cases()))
def test_fuzz_practice_tables_long(cases):
    assert_clean(run_all(cases))


@pytest.mark.slow
@LONG
@given(pairs(fi.sweep_spec_cases()))
def test_fuzz_sweep_specs_long(cases):
    assert_clean(run_all(cases))


@pytest.mark.slow
@LONG
@given(pairs(fi.cli_arg_cases()))
def test_fuzz_arguments_long(cases):
    assert_clean(run_all(cases))


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory):
    return fi.build_store(tmp_path_factory.mktemp("prepared"))


@pytest.mark.slow
@pytest.mark.parametrize("case", fi.catalogue(), ids=lambda c: c.name)
def test_named_catalogue(case, request):
    store = request.getfixturevalue("sweep_store") if case.store else None
    assert_clean([fi.run_case(case, store)])
