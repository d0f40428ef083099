"""The Optuna study of a calibration: storage, sampler, and which trials belong to whom.

The study lives in Optuna storage: SQLite at ``OUT/study.db`` by default, or any SQLAlchemy
URL. Its ``spec_digest`` attribute ties it to one objective (another spec pointed at it is
refused) and its ``token`` names its batch folders, so that a study made anew in the same
folder never meets an old study's runs.

Each trial is claimed by the calibration folder that asked for it (``owner``, the folder's id
in ``calibration.json``, which moves with the folder), with its ``batch`` and its ``point`` in
the batch. A trial a killed calibration left running is finished by the next run of that folder
(``orphans``); a trial of another folder is left alone and not counted.
"""

from __future__ import annotations

import math
import secrets
import warnings
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ccgabm.calibrate.loss import Fit
from ccgabm.calibrate.spec import CalibrationError, CalibrationSpec, Parameter

__all__ = ["CLAIM_GRACE", "Batch", "best_trial", "claim", "finished_count", "open_study", "orphans",
           "others_running", "shown_storage", "sqlite_url", "suggest", "tell"]

# A trial is claimed within milliseconds of being asked; one still unclaimed after this long was
# left by a calibration killed in between (assumed ample: claims need no computation).
CLAIM_GRACE = timedelta(minutes=5)
Batch = tuple[str, list[Any], list[bool]]  # name, every trial in point order, still running?


def sqlite_url(path: Any) -> str:
    """The SQLAlchemy URL of an SQLite file, whatever characters its path holds."""
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def shown_storage(url: str) -> str:
    """The storage URL with any password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url.split("@")[-1] if "@" in url else url


def _sampler(name: str, seed: int, n_trials: int) -> Any:
    """The sampler, seeded by the root seed and the trials so far: a resumed random, TPE or
    CMA-ES search does not repeat its first proposals (so results depend on where a calibration
    was interrupted); QMC resumes its sequence from the study."""
    import optuna

    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed % 2**32, scramble=True, warn_independent_sampling=False)
    state = int(np.random.SeedSequence([seed, n_trials]).generate_state(1, dtype=np.uint32)[0])
    if name == "tpe":  # constant_liar: candidates asked together are spread apart
        return optuna.samplers.TPESampler(seed=state, multivariate=True, constant_liar=True)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=state, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=state)


def open_study(spec: CalibrationSpec, digest: str, storage: str) -> Any:
    """Create or load the study; refuse one made for another objective."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        study = optuna.create_study(study_name=spec.study, storage=storage, direction="minimize",
                                    load_if_exists=True)
    except Exception as exc:  # SQLAlchemy raises many kinds for a bad URL or an unreachable server
        detail = " ".join(str(exc).split())[:160]
        raise CalibrationError(f"--storage {shown_storage(storage)!r}: cannot open the study "
                               f"({type(exc).__name__}: {detail})") from None
    stored = study.user_attrs.get("spec_digest")
    if stored is None and not study.trials:
        study.set_user_attr("spec_digest", digest)
        study.set_user_attr("token", secrets.token_hex(4))
    elif stored != digest:
        made = f"spec digest {stored}" if stored else "not by ccgabm calibrate"
        raise CalibrationError(
            f"study {spec.study!r} in {shown_storage(storage)} was made for another calibration "
            f"({made}; this spec: {digest}): its trials answer another question; use another "
            "--out folder or another [calibration] study name")
    study.sampler = _sampler(spec.sampler, spec.seed, len(study.get_trials(deepcopy=False)))
    return study


def suggest(trial: Any, p: Parameter) -> float | int:
    """Draw (or read back, if already drawn) one parameter of a trial."""
    if p.integer:
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
    return trial.suggest_float(p.name, p.low, p.high, log=p.log)


def claim(trial: Any, owner: str, batch: str, point: int) -> None:
    """Mark a trial as point ``point`` of ``batch`` of the calibration folder ``owner``."""
    trial.set_user_attr("owner", owner)
    trial.set_user_attr("batch", batch)
    trial.set_user_attr("point", point)


def tell(study: Any, trial: Any, fit: Fit) -> None:
    """Record a trial's fit and finish it (failed when it has no finite loss). ``trial`` is an
    ``optuna.Trial`` or, for a trial left running by a killed calibration, its ``FrozenTrial``."""
    from optuna.trial import Trial, TrialState

    if not isinstance(trial, Trial):
        trial = Trial(study, trial._trial_id)
    trial.set_user_attr("fit", fit.records())
    if fit.ok:
        study.tell(trial, fit.loss)
    else:
        trial.set_user_attr("error", fit.error or "no finite loss")
        study.tell(trial, state=TrialState.FAIL)


def orphans(study: Any, spec: CalibrationSpec, owner: str, own_storage: bool) -> list[Batch]:
    """Trials left running by a killed calibration of this folder, as batches to finish.

    A batch is rerun whole (its sweep store then only runs what is missing), so its candidate
    list, and with it the sweep, is the one it started with: a batch runs only once all its
    trials are claimed and drawn. A running trial killed while candidates were being asked
    (unclaimed, or parameters missing) is given a batch of its own and its missing parameters;
    an unclaimed one is taken when the storage is this folder's own, or when it has waited for
    a claim longer than ``CLAIM_GRACE`` (with a shared storage it may be another folder's).
    """
    from optuna.trial import Trial, TrialState

    names = {p.name for p in spec.parameters}

    def ready(t: Any) -> bool:  # claimed by a batch, every parameter drawn
        return {"owner", "batch", "point"} <= t.user_attrs.keys() and names <= t.params.keys()

    def ours(t: Any) -> bool:
        if "owner" in t.user_attrs:
            return t.user_attrs["owner"] == owner
        started = t.datetime_start  # as Optuna keeps it: naive local time
        stale = started is not None and datetime.now(started.tzinfo) - started > CLAIM_GRACE
        return own_storage or stale

    token = study.user_attrs["token"]
    trials = study.get_trials(deepcopy=False)
    running = {t.number for t in trials if t.state == TrialState.RUNNING}
    unclaimed = [t for t in trials if t.number in running and not ready(t) and ours(t)]
    if unclaimed:
        name = f"{token}-r{unclaimed[0].number:05d}"
        for point, frozen in enumerate(unclaimed):
            trial = Trial(study, frozen._trial_id)
            claim(trial, owner, name, point)
            for p in spec.parameters:
                suggest(trial, p)
        trials = study.get_trials(deepcopy=False)
    batches: dict[str, list[Any]] = {}
    for t in trials:
        if ready(t) and t.user_attrs["owner"] == owner:
            batches.setdefault(t.user_attrs["batch"], []).append(t)
    out = []
    for name, members in sorted(batches.items()):
        members.sort(key=lambda t: t.user_attrs["point"])
        flags = [t.number in running for t in members]
        if any(flags):
            out.append((name, members, flags))
    return out


def finished_count(study: Any) -> tuple[int, int]:
    """(finished trials, failed trials)."""
    from optuna.trial import TrialState

    states = [t.state for t in study.get_trials(deepcopy=False)]
    done = sum(s in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED) for s in states)
    return done, sum(s == TrialState.FAIL for s in states)


def others_running(study: Any, owner: str) -> int:
    """Trials running for another calibration folder (or left by one that was killed)."""
    from optuna.trial import TrialState

    return sum(t.user_attrs.get("owner") != owner
               for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def best_trial(study: Any) -> Any | None:
    """The complete trial with the lowest loss (the earliest on a tie), or None."""
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]
    return min(done, key=lambda t: (t.value, t.number)) if done else None
