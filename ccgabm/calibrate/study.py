"""Run (or resume) a calibration: Optuna proposes candidates, the sweep engine runs them.

Each round asks Optuna for ``batch`` candidates and runs them as one sweep (sampling ``list``:
one point per candidate, ``replications`` runs each) in ``OUT/batches/``, so seeds, failure
recording, exact resume and the loky and dask backends are the sweep engine's. Every candidate
uses the same run seeds (common random numbers: replicate k of every candidate has the same
seed), so differences between candidates are not differences between draws.

The study lives in Optuna storage: SQLite at ``OUT/study.db`` by default, or any SQLAlchemy
URL (``--storage``), e.g. PostgreSQL shared by several machines. Its ``spec_digest`` attribute
ties it to one objective; another spec pointed at the same study is refused.

Resume after a kill (even SIGKILL): trials that finished stay finished and are never rerun; a
trial left running by a killed calibration in this output folder is finished from its batch
(whose finished runs the sweep store keeps), so it keeps its number and parameters. ``trials``
is the total number of trials the study should hold, so the count stays right however often
the calibration is interrupted.

At the end the best candidate is run again with fresh seeds (``check_replications`` runs): its
loss on the seeds it was chosen with is optimistically biased, the check is not.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ccgabm.calibrate.loss import Fit, fit_candidate
from ccgabm.calibrate.outputs import calibration_run
from ccgabm.calibrate.spec import CalibrationError, CalibrationSpec, Parameter, load_calibration

__all__ = ["CalibrationResult", "check_parameters", "run_calibration", "check_seed"]

FINISHED = ("COMPLETE", "FAIL", "PRUNED")
MANIFEST = "calibration.json"


@dataclass
class CalibrationResult:
    """What a call to ``run_calibration`` did, and where the study stands."""

    out_dir: Path
    study: str
    storage: str
    spec_digest: str
    n_trials: int = 0  # finished trials in the study
    n_new: int = 0  # trials finished by this call
    n_failed: int = 0  # failed trials in the study
    n_resumed: int = 0  # interrupted trials finished by this call
    best_number: int | None = None
    best_loss: float = math.nan
    best_params: dict[str, Any] = field(default_factory=dict)
    check: Fit | None = None
    elapsed_s: float = 0.0

    def format(self) -> str:
        """Human-readable summary."""
        lines = [f"calibration {self.out_dir}: {self.n_trials} trials in study {self.study!r} "
                 f"({self.n_new} new, {self.n_resumed} resumed, {self.n_failed} failed in all) in "
                 f"{self.elapsed_s:.1f} s"]
        if self.best_number is not None:
            shown = ", ".join(f"{k} = {v:.6g}" for k, v in self.best_params.items())
            lines.append(f"best: trial {self.best_number}, loss {self.best_loss:.4g}: {shown}")
        if self.check is not None:
            lines.append(f"check with fresh seeds: loss {self.check.loss:.4g}"
                         + (f" ({self.check.error})" if self.check.error else ""))
        lines.append(f"report: {self.out_dir / 'report.md'}")
        return "\n".join(lines)


def check_seed(root: int) -> int:
    """Root seed of the best candidate's check rerun: apart from the calibration's run seeds."""
    return int(np.random.SeedSequence([root, 0xC4EC]).generate_state(1, dtype=np.uint32)[0])


def check_parameters(spec: CalibrationSpec, load_config: Callable[[Path], Any] | None = None
                     ) -> tuple[Any, tuple[Parameter, ...]]:
    """The base config (with ``[fixed]``) and the parameters, checked against it before any run.

    Each bound must be accepted by the config; a parameter whose value is an integer in the
    base scenario is searched over integers (its bounds must then be whole numbers). Series
    years must lie within the run.
    """
    from ccgabm.config import load_config as default_loader

    loader = load_config or default_loader
    try:
        base = loader(spec.base)
    except FileNotFoundError:
        raise CalibrationError(f"[calibration] base = {str(spec.base)!r}: file does not exist") from None
    except ValueError as exc:
        raise CalibrationError(f"[calibration] base = {str(spec.base)!r}: {exc}") from None
    if spec.fixed:
        try:
            base = base.with_overrides(dict(spec.fixed))
        except ValueError as exc:
            raise CalibrationError(f"[fixed] rejected by the model's config: {exc}") from None
    values = base.to_dict()
    checked = []
    for p in spec.parameters:
        section, _, key = p.name.partition(".")
        current = values.get(section, {}).get(key)
        integer = isinstance(current, int) and not isinstance(current, bool)
        if integer and not (p.low.is_integer() and p.high.is_integer()):
            raise CalibrationError(f"[parameters] {p.name!r} is an integer parameter: low and high must be "
                                   f"whole numbers, got {p.low:g} and {p.high:g}")
        for bound in (p.low, p.high):
            value = int(bound) if integer else bound
            try:
                base.with_overrides({p.name: value})
            except ValueError as exc:
                raise CalibrationError(f"[parameters] {p.name!r} bound {value!r} rejected by the config: "
                                       f"{exc}") from None
        checked.append(Parameter(p.name, p.low, p.high, p.log, integer))
    years = int(base.run.years)
    for t in spec.targets:
        late = [y for y in t.years if y >= years]
        if late:
            raise CalibrationError(f"[[targets]] {t.name!r}: years {late} lie beyond the run's {years} years "
                                   f"(run years 0 to {years - 1})")
    return base, tuple(checked)


def _sampler(name: str, seed: int) -> Any:
    import optuna

    if name == "tpe":  # constant_liar: candidates asked together are spread apart
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)


def _shown_storage(url: str) -> str:
    """The storage URL without a password."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, user = head.partition("://")
    return f"{scheme}://{user.split(':')[0]}:***@{tail}"


def open_study(spec: CalibrationSpec, digest: str, storage: str) -> Any:
    """Create or load the study; refuse one made for another objective."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(study_name=spec.study, storage=storage, direction="minimize",
                                    load_if_exists=True)
    except Exception as exc:  # SQLAlchemy raises many kinds for a bad URL or an unreachable server
        detail = " ".join(str(exc).split())[:160]
        raise CalibrationError(f"--storage {_shown_storage(storage)!r}: cannot open the study "
                               f"({type(exc).__name__}: {detail})") from None
    stored = study.user_attrs.get("spec_digest")
    if stored is None and not study.trials:
        study.set_user_attr("spec_digest", digest)
    elif stored != digest:
        raise CalibrationError(
            f"study {spec.study!r} in {_shown_storage(storage)} was made for another calibration "
            f"(spec digest {stored}, this spec {digest}): its trials answer another question; use "
            "another --out folder, another --storage or another [calibration] study name")
    # Seeded by the trials so far, so that a resumed random or QMC search does not repeat itself.
    study.sampler = _sampler(spec.sampler, spec.seed + len(study.trials))
    return study


def _suggest(trial: Any, p: Parameter) -> float | int:
    if p.integer:
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
    return trial.suggest_float(p.name, p.low, p.high, log=p.log)


def _batch_spec(spec: CalibrationSpec, candidates: list[dict[str, Any]], seed: int, replications: int,
                description: str) -> Any:
    from ccgabm.sweep.spec import Axis, SweepSpec

    axes = tuple(Axis(name=p.name, values=tuple(c[p.name] for c in candidates)) for p in spec.parameters)
    return SweepSpec(base=spec.base, seed=seed, replications=replications, sampling="list", axes=axes,
                     common_random_numbers=True, fixed=dict(spec.fixed), keep=(), description=description)


@dataclass
class _Runner:
    """Runs batches of candidates through the sweep engine and scores them."""

    spec: CalibrationSpec
    out: Path
    jobs: int
    backend: str
    scheduler: str | None
    run_fn: Callable[[Any, int], Any] | None = None

    def evaluate(self, name: str, candidates: list[dict[str, Any]], seed: int, replications: int
                 ) -> list[Fit]:
        """Run every candidate ``replications`` times into ``batches/name`` and score each."""
        from ccgabm.sweep import load_results, run_sweep

        batch = _batch_spec(self.spec, candidates, seed, replications,
                            f"calibration {self.spec.study}: {name}")
        folder = self.out / "batches" / name
        fn = self.run_fn or partial(calibration_run, series=self.spec.series)
        report = run_sweep(batch, folder, jobs=self.jobs, backend=self.backend, scheduler=self.scheduler,
                           run_fn=fn, progress=False)
        runs, _ = load_results(folder)
        fits = []
        for point in range(len(candidates)):
            failed = [f for f in report.failures if f["point_id"] == point]
            if failed:
                first = failed[0]
                fits.append(Fit(loss=math.inf, values=(), error=f"{len(failed)} of {replications} runs "
                                f"failed; first: {first['error_type']}: {first['error']}"))
                continue
            rows = runs[runs["point_id"] == point] if len(runs) else runs
            fits.append(fit_candidate(self.spec, rows))
        return fits


def _tell(study: Any, trial: Any, fit: Fit) -> None:
    """Record a trial's fit and finish it (failed when it has no finite loss). ``trial`` is an
    ``optuna.Trial`` or, for a trial left running by a killed calibration, its ``FrozenTrial``."""
    from optuna.trial import Trial, TrialState

    if not isinstance(trial, Trial):
        trial = Trial(study, trial._trial_id)
    trial.set_user_attr("fit", fit.records())
    if fit.ok:
        study.tell(trial, fit.loss)
    else:
        trial.set_user_attr("error", fit.error)
        study.tell(trial, state=TrialState.FAIL)


def _orphans(study: Any, spec: CalibrationSpec, digest: str, out: Path, own_storage: bool
             ) -> list[tuple[str, list[Any], list[bool]]]:
    """Trials left running by a killed calibration of this output folder, as batches to finish:
    ``(batch name, every trial of the batch in point order, which of them are still running)``.

    A batch is rerun whole (its sweep store then only runs what is missing), so its candidate
    list, and with it the sweep, is the one it started with: a batch runs only once all its
    trials are claimed and drawn. A running trial killed while candidates were being asked
    (unclaimed, or parameters missing) is given a batch of its own and its missing parameters;
    one with no folder recorded is taken only when the storage is this folder's own (with a
    shared storage it may be another machine's).
    """
    from optuna.trial import Trial, TrialState

    here = str(out.resolve())
    names = {p.name for p in spec.parameters}

    def ready(t: Any) -> bool:  # claimed by a batch, every parameter drawn
        return {"out_dir", "batch", "point"} <= t.user_attrs.keys() and names <= t.params.keys()

    trials = study.get_trials(deepcopy=False)
    running = {t.number for t in trials if t.state == TrialState.RUNNING}
    unclaimed = [t for t in trials if t.number in running and not ready(t)
                 and (own_storage or t.user_attrs.get("out_dir") == here)]
    if unclaimed:
        name = f"{digest}-r{unclaimed[0].number:05d}"
        for point, frozen in enumerate(unclaimed):
            trial = Trial(study, frozen._trial_id)
            _claim(trial, here, name, point)
            for p in spec.parameters:
                _suggest(trial, p)
        trials = study.get_trials(deepcopy=False)
    batches: dict[str, list[Any]] = {}
    for t in trials:
        if t.user_attrs.get("out_dir") == here and ready(t):
            batches.setdefault(t.user_attrs["batch"], []).append(t)
    out_batches = []
    for name, members in sorted(batches.items()):
        members.sort(key=lambda t: t.user_attrs["point"])
        flags = [t.number in running for t in members]
        if any(flags):
            out_batches.append((name, members, flags))
    return out_batches


def _claim(trial: Any, out_dir: str, batch: str, point: int) -> None:
    """Mark a trial as point ``point`` of ``batch`` in the calibration writing ``out_dir``."""
    trial.set_user_attr("out_dir", out_dir)
    trial.set_user_attr("batch", batch)
    trial.set_user_attr("point", point)


def _counts(study: Any) -> tuple[int, int]:
    """(finished or running trials, failed trials)."""
    from optuna.trial import TrialState

    states = [t.state for t in study.get_trials(deepcopy=False)]
    busy = sum(s in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED, TrialState.RUNNING)
               for s in states)
    return busy, sum(s == TrialState.FAIL for s in states)


def _best(study: Any) -> Any | None:
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(done, key=lambda t: (t.value, t.number)) if done else None


@contextlib.contextmanager
def _cluster(backend: str, scheduler: str | None, jobs: int):
    """The dask scheduler address the batches use: the one given, or a LocalCluster started once."""
    if backend != "dask" or scheduler:
        yield scheduler
        return
    from ccgabm.sweep.engine import _dask_client

    with _dask_client(None, jobs) as client:
        yield client.scheduler.address


def run_calibration(
    spec: CalibrationSpec | str | Path,
    out_dir: str | Path,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    trials: int | None = None,
    storage: str | None = None,
    progress: bool = True,
    run_fn: Callable[[Any, int], Any] | None = None,
    report: bool = True,
) -> CalibrationResult:
    """Run (or resume) the calibration ``spec`` into ``out_dir``; write ``report.md`` at the end.

    ``trials`` (default: the spec's) is the total the study should hold. ``run_fn(config,
    seed)`` replaces the model run (tests). Raises ``CalibrationError`` before any run for a bad
    spec, parameter, target, storage or study; ``StoreError`` when ``out_dir`` is busy.
    """
    from ccgabm.sweep.engine import BACKENDS
    from ccgabm.sweep.store import locked

    started = time.perf_counter()
    if not isinstance(spec, CalibrationSpec):
        spec = load_calibration(spec)
    if backend not in BACKENDS:
        raise CalibrationError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs == 0 or jobs < -1:
        raise CalibrationError(f"jobs must be a positive integer or -1 (all cores), got {jobs!r}")
    if scheduler and backend != "dask":
        raise CalibrationError("--scheduler is only used with --backend dask")
    total = spec.trials if trials is None else trials
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise CalibrationError(f"--trials must be an int >= 1, got {total!r}")
    base, parameters = check_parameters(spec)
    spec = _with_parameters(spec, parameters)
    digest = spec.digest(base.digest())
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CalibrationError(f"--out {str(out)[:80]}: cannot be created ({exc.strerror or exc})") from None
    url = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    with locked(out):
        study = open_study(spec, digest, url)
        _write_manifest(out, spec, digest, url)
        result = CalibrationResult(out_dir=out, study=spec.study, storage=_shown_storage(url),
                                   spec_digest=digest)
        with _cluster(backend, scheduler, jobs) as address:
            runner = _Runner(spec, out, jobs, backend, address, run_fn)
            _search(study, runner, spec, digest, out, total, progress, result, own_storage=storage is None)
            best = _best(study)
            if best is not None and spec.check_replications:
                name = f"{digest}-check-t{best.number:05d}"
                result.check = runner.evaluate(name, [dict(best.params)], check_seed(spec.seed),
                                               spec.check_replications)[0]
                _save_check(out, best.number, result.check)
        result.n_trials, result.n_failed = _counts(study)
        if best is not None:
            result.best_number, result.best_loss, result.best_params = best.number, best.value, best.params
        result.elapsed_s = time.perf_counter() - started
        if report:
            from ccgabm.calibrate.report import write_report

            write_report(out, spec, study, result)
    return result


def _with_parameters(spec: CalibrationSpec, parameters: tuple[Parameter, ...]) -> CalibrationSpec:
    from dataclasses import replace

    return replace(spec, parameters=parameters)


def _search(study: Any, runner: _Runner, spec: CalibrationSpec, digest: str, out: Path, total: int,
            progress: bool, result: CalibrationResult, own_storage: bool) -> None:
    """Finish interrupted trials, then ask, run and tell batches until the study holds ``total``."""
    from tqdm.auto import tqdm

    orphans = _orphans(study, spec, digest, out, own_storage)
    busy, _ = _counts(study)
    bar = tqdm(total=max(total, busy), initial=busy - sum(sum(f) for _, _, f in orphans),
               desc="calibrate", unit="trial", disable=not progress, file=sys.stderr)
    with bar:
        for name, members, still_running in orphans:
            fits = runner.evaluate(name, [dict(t.params) for t in members], spec.seed, spec.replications)
            for t, fit, pending in zip(members, fits, still_running, strict=True):
                if pending:
                    _tell(study, t, fit)
                    result.n_resumed += 1
                    bar.update(1)
            _show_best(bar, study)
        while (busy := _counts(study)[0]) < total:
            asked = []
            name = f"{digest}-t{len(study.trials):05d}"
            for point in range(min(spec.batch, total - busy)):
                trial = study.ask()
                _claim(trial, str(out.resolve()), name, point)
                asked.append((trial, {p.name: _suggest(trial, p) for p in spec.parameters}))
            fits = runner.evaluate(name, [c for _, c in asked], spec.seed, spec.replications)
            for (trial, _), fit in zip(asked, fits, strict=True):
                _tell(study, trial, fit)
                result.n_new += 1
                bar.update(1)
            _show_best(bar, study)


def _show_best(bar: Any, study: Any) -> None:
    best = _best(study)
    if best is not None:
        bar.set_postfix(best=f"{best.value:.4g}", trial=best.number, refresh=False)


def _write_manifest(out: Path, spec: CalibrationSpec, digest: str, storage: str) -> None:
    from ccgabm.sweep.store import atomic_write_json

    atomic_write_json(out / MANIFEST, {
        "study": spec.study, "storage": _shown_storage(storage), "spec_digest": digest,
        "spec": str(spec.source) if spec.source else None, "base": str(spec.base),
        "parameters": [vars(p) for p in spec.parameters], "replications": spec.replications,
        "sampler": spec.sampler, "seed": spec.seed,
    })


def _save_check(out: Path, number: int, fit: Fit) -> None:
    from ccgabm.sweep.store import atomic_write_json

    atomic_write_json(out / "check.json", {"trial": number, "loss": fit.loss, "error": fit.error,
                                           "fit": fit.records()})


def read_check(out: Path) -> dict[str, Any] | None:
    """The saved check rerun, if any."""
    try:
        return json.loads((out / "check.json").read_text())
    except (OSError, ValueError):
        return None
