"""Run (or resume) a calibration: Optuna proposes candidates, the sweep engine runs them.

Each round asks Optuna for ``batch`` candidates and runs them as one sweep
(``ccgabm.calibrate.batches``); the study is kept in Optuna storage
(``ccgabm.calibrate.study``). An output folder holds one study: its ``calibration.json``
names the study, its storage and the folder's id.

Resume after a kill (even SIGKILL): trials that finished stay finished and are never rerun; a
trial left running by a killed calibration of this folder is finished from its batch (whose
finished runs the sweep store keeps), so it keeps its number and parameters. ``trials`` is the
number of finished trials the study should hold, so the count stays right however often the
calibration is interrupted.

One calibration works on a study at a time. To use several machines, give this one a dask
scheduler whose workers span them (``--backend dask --scheduler``); a shared ``--storage`` lets
any machine resume, extend or report on the study, not run it twice at once.

At the end the best candidate is run again with fresh seeds (``check_replications`` runs): its
loss on the seeds it was chosen with is optimistically biased, the check's is not.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ccgabm.calibrate import study as studies
from ccgabm.calibrate.batches import Runner, check_seed
from ccgabm.calibrate.loss import Fit
from ccgabm.calibrate.spec import CalibrationError, CalibrationSpec, Parameter, load_calibration

__all__ = ["CalibrationResult", "check_parameters", "read_check", "run_calibration"]

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
    n_others_running: int = 0  # trials running for another folder (not counted)
    best_number: int | None = None
    best_loss: float = math.nan
    best_params: dict[str, Any] = field(default_factory=dict)
    check: Fit | None = None
    elapsed_s: float = 0.0

    def format(self) -> str:
        """Human-readable summary."""
        lines = [f"calibration {self.out_dir}: {self.n_trials} finished trials in study {self.study!r} "
                 f"({self.n_new} new, {self.n_resumed} resumed, {self.n_failed} failed in all) in "
                 f"{self.elapsed_s:.1f} s"]
        if self.n_others_running:
            lines.append(f"note: {self.n_others_running} trials of the study are running for another "
                         "calibration folder (or were left by one that was killed); not counted")
        if self.best_number is not None:
            shown = ", ".join(f"{k} = {v:.6g}" for k, v in self.best_params.items())
            lines.append(f"best: trial {self.best_number}, loss {self.best_loss:.4g}: {shown}")
        else:
            lines.append("no trial finished with a loss: see trials.csv for the errors")
        if self.check is not None:
            lines.append("check with fresh seeds: " + (f"loss {self.check.loss:.4g}" if self.check.ok
                                                        else f"failed ({self.check.error})"))
        lines.append(f"report: {self.out_dir / 'report.md'}")
        return "\n".join(lines)


def objective_base_digest(fixed: Any, parameters: tuple) -> str:
    """Digest of the base scenario after ``[fixed]``, leaving out the free parameters: every
    trial sets those, so writing the calibrated values into the scenario keeps the study."""
    from ccgabm.config import data_digest

    data = fixed.to_dict()
    for p in parameters:
        section, _, key = p.name.partition(".")
        data[section].pop(key, None)
    return data_digest(data)


def check_parameters(spec: CalibrationSpec, load_config: Callable[[Path], Any] | None = None
                     ) -> tuple[Any, Any, tuple[Parameter, ...]]:
    """The base config as read, the same with ``[fixed]``, and the parameters, checked against
    it before any run.

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
    fixed = base
    if spec.fixed:
        try:
            fixed = base.with_overrides(dict(spec.fixed))
        except ValueError as exc:
            raise CalibrationError(f"[fixed] rejected by the model's config: {exc}") from None
    values = fixed.to_dict()
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
                fixed.with_overrides({p.name: value})
            except ValueError as exc:
                raise CalibrationError(f"[parameters] {p.name!r} bound {value!r} rejected by the config: "
                                       f"{exc}") from None
        checked.append(Parameter(p.name, p.low, p.high, p.log, integer))
    years = int(fixed.run.years)
    for t in spec.targets:
        late = [y for y in t.years if y >= years]
        if late:
            raise CalibrationError(f"[[targets]] {t.name!r}: years {late} lie beyond the run's {years} years "
                                   f"(run years 0 to {years - 1})")
    return base, fixed, tuple(checked)


def _check_arguments(out_dir: Any, jobs: Any, backend: str, scheduler: str | None, total: Any) -> None:
    from ccgabm.sweep.engine import BACKENDS

    if backend not in BACKENDS:
        raise CalibrationError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs == 0 or jobs < -1:
        raise CalibrationError(f"jobs must be a positive integer or -1 (all cores), got {jobs!r}")
    if scheduler and backend != "dask":
        raise CalibrationError("--scheduler is only used with --backend dask")
    if isinstance(total, bool) or not isinstance(total, int) or not 1 <= total <= 1_000_000:
        raise CalibrationError(f"--trials must be an int from 1 to 1,000,000, got {total!r}")
    if not isinstance(out_dir, str | os.PathLike) or not str(out_dir).strip():
        raise CalibrationError(f"--out must be a folder path, got {str(out_dir)!r}")


OWN_STORAGE = "study.db in this folder"


def _folder(out: Path, spec: CalibrationSpec, storage: str) -> str:
    """The folder's id, made on first use; refuse a folder holding another study. ``storage``
    is ``OWN_STORAGE`` or the URL as shown (no password)."""
    path = out / MANIFEST
    try:
        held = json.loads(path.read_text())
    except FileNotFoundError:
        return secrets.token_hex(6)
    except (OSError, ValueError):
        raise CalibrationError(f"{path} is unreadable: this folder's calibration record is damaged; "
                               "use another --out folder") from None
    shown = storage
    if held.get("study") != spec.study or held.get("storage") != shown:
        raise CalibrationError(
            f"--out {out} holds the calibration of study {held.get('study')!r} in {held.get('storage')}, "
            f"not {spec.study!r} in {shown}: one folder holds one study; use another --out folder")
    return str(held.get("folder_id") or secrets.token_hex(6))


def _write_manifest(out: Path, spec: CalibrationSpec, digest: str, storage: str, folder_id: str) -> None:
    from ccgabm.sweep.store import atomic_write_json

    atomic_write_json(out / MANIFEST, {
        "study": spec.study, "storage": storage, "folder_id": folder_id,
        "spec_digest": digest, "spec": str(spec.source) if spec.source else None,
        "base": str(spec.base.resolve()), "parameters": [vars(p) for p in spec.parameters],
        "replications": spec.replications, "seed": spec.seed,
    })


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

    ``trials`` (default: the spec's) is the number of finished trials the study should hold.
    ``run_fn(config, seed)`` replaces the model run (tests). Raises, before any run and with
    nothing written: ``CalibrationError`` for a bad spec, parameter, target, argument, storage or
    study; ``StoreError`` when ``out_dir`` is being written by another calibration or the dask
    scheduler does not answer.
    """
    from ccgabm.sweep.engine import _check_scheduler
    from ccgabm.sweep.store import locked

    started = time.perf_counter()
    if not isinstance(spec, CalibrationSpec):
        spec = load_calibration(spec)
    total = spec.trials if trials is None else trials
    _check_arguments(out_dir, jobs, backend, scheduler, total)
    base, fixed, parameters = check_parameters(spec)
    spec = replace(spec, parameters=parameters)
    digest = spec.digest(objective_base_digest(fixed, parameters))
    if backend == "dask" and scheduler:
        _check_scheduler(scheduler)
    out = Path(out_dir)
    own_storage = storage is None
    url = storage or studies.sqlite_url((out / "study.db").resolve())
    if not own_storage:  # a shared database is checked before the folder is made
        studies.open_study(spec, digest, url)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CalibrationError(f"--out {str(out)[:80]}: cannot be created ({exc.strerror or exc})") from None
    try:
        with locked(out):
            shown = OWN_STORAGE if own_storage else studies.shown_storage(url)
            folder_id = _folder(out, spec, shown)
            study = studies.open_study(spec, digest, url)
            _write_manifest(out, spec, digest, shown, folder_id)
            created = False  # the folder is a calibration's now: kept whatever happens next
            return _run(study, spec, base, out, folder_id, own_storage, url, digest, total, jobs, backend,
                        scheduler, progress, run_fn, report, started)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _run(study: Any, spec: CalibrationSpec, base: Any, out: Path, folder_id: str, own_storage: bool, url: str,
         digest: str, total: int, jobs: int, backend: str, scheduler: str | None, progress: bool,
         run_fn: Callable[[Any, int], Any] | None, report: bool, started: float) -> CalibrationResult:
    result = CalibrationResult(out_dir=out, study=spec.study, storage=studies.shown_storage(url),
                               spec_digest=digest)
    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    if workers > spec.batch * spec.replications:
        print(f"note: {workers} workers but batches of {spec.batch} candidates x {spec.replications} "
              f"replicates = {spec.batch * spec.replications} runs: raise [calibration] batch to use them "
              "all", file=sys.stderr)
    token = study.user_attrs["token"]
    with _cluster(backend, scheduler, jobs) as address:
        runner = Runner(spec, base, out, jobs, backend, address, run_fn)
        _search(study, runner, spec, folder_id, own_storage, total, progress, result)
        best = studies.best_trial(study)
        if best is not None and spec.check_replications:
            name = f"{token}-check-t{best.number:05d}-x{spec.check_replications}"
            result.check = runner.evaluate(name, [dict(best.params)], check_seed(spec.seed),
                                           spec.check_replications, noise_n=spec.replications)[0]
            _save_check(out, token, best.number, spec.check_replications, result.check)
    result.n_trials, result.n_failed = studies.finished_count(study)
    result.n_others_running = studies.others_running(study, folder_id)
    if best is not None:
        result.best_number, result.best_loss, result.best_params = best.number, best.value, best.params
    result.elapsed_s = time.perf_counter() - started
    if report:
        from ccgabm.calibrate.report import write_report

        write_report(out, spec, study, result)
    return result


def _search(study: Any, runner: Runner, spec: CalibrationSpec, owner: str, own_storage: bool, total: int,
            progress: bool, result: CalibrationResult) -> None:
    """Finish interrupted trials, then ask, run and tell batches until ``total`` have finished."""
    from tqdm.auto import tqdm

    left = studies.orphans(study, spec, owner, own_storage)
    done, _ = studies.finished_count(study)
    bar = tqdm(total=max(total, done + sum(sum(f) for _, _, f in left)), initial=done, desc="calibrate",
               unit="trial", disable=not progress, file=sys.stderr)
    token = study.user_attrs["token"]
    with bar:
        for name, members, still_running in left:
            fits = runner.evaluate(name, [dict(t.params) for t in members], spec.seed, spec.replications)
            for t, fit, pending in zip(members, fits, still_running, strict=True):
                if pending:
                    studies.tell(study, t, fit)
                    result.n_resumed += 1
                    bar.update(1)
            _show_best(bar, study)
        while (done := studies.finished_count(study)[0]) < total:
            asked = []
            name = f"{token}-t{len(study.get_trials(deepcopy=False)):05d}"
            for point in range(min(spec.batch, total - done)):
                trial = study.ask()
                studies.claim(trial, owner, name, point)
                asked.append((trial, {p.name: studies.suggest(trial, p) for p in spec.parameters}))
            fits = runner.evaluate(name, [c for _, c in asked], spec.seed, spec.replications)
            for (trial, _), fit in zip(asked, fits, strict=True):
                studies.tell(study, trial, fit)
                result.n_new += 1
                bar.update(1)
            _show_best(bar, study)


def _show_best(bar: Any, study: Any) -> None:
    best = studies.best_trial(study)
    if best is not None:
        bar.set_postfix(best=f"{best.value:.4g}", trial=best.number, refresh=False)


def _save_check(out: Path, token: str, number: int, replications: int, fit: Fit) -> None:
    from ccgabm.sweep.store import atomic_write_json

    atomic_write_json(out / "check.json", {
        "token": token, "trial": number, "replications": replications,
        "loss": fit.loss if fit.ok else None, "error": fit.error, "fit": fit.records()})


def read_check(out: Path) -> dict[str, Any] | None:
    """The saved check rerun, if any."""
    try:
        return json.loads((out / "check.json").read_text())
    except (OSError, ValueError):
        return None
