"""Candidates run through the sweep engine, a batch at a time, and scored.

A batch is one sweep (sampling ``list``: one point per candidate, ``replications`` runs each)
in its own store under ``OUT/batches/``, so seeds, failure recording, exact resume and the loky
and dask backends are the sweep engine's. Every batch has the same root seed and common random
numbers: replicate k of every candidate runs on the same seed, so candidates differ by their
parameters, not their draws. The check rerun of the best candidate uses a root seed apart
(``check_seed``).

A candidate the model's config refuses (two parameters whose combination is not allowed, say)
is scored as failed with the config's message and left out of the sweep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ccgabm.calibrate.loss import Fit, fit_candidate
from ccgabm.calibrate.outputs import calibration_run
from ccgabm.calibrate.spec import CalibrationSpec

__all__ = ["Runner", "check_seed"]


def check_seed(root: int) -> int:
    """Root seed of the best candidate's check rerun: apart from the calibration's run seeds."""
    return int(np.random.SeedSequence([root, 0xC4EC]).generate_state(1, dtype=np.uint32)[0])


def _batch_spec(spec: CalibrationSpec, candidates: list[dict[str, Any]], seed: int, replications: int,
                description: str) -> Any:
    from ccgabm.sweep.spec import Axis, SweepSpec

    axes = tuple(Axis(name=p.name, values=tuple(c[p.name] for c in candidates)) for p in spec.parameters)
    return SweepSpec(base=spec.base, seed=seed, replications=replications, sampling="list", axes=axes,
                     common_random_numbers=True, fixed=dict(spec.fixed), keep=(), description=description)


@dataclass
class Runner:
    """Runs batches of candidates into ``out/batches`` and scores each candidate.

    ``base`` is the scenario as read when the calibration started (before ``[fixed]``): every
    batch uses it, so editing the file during a calibration does not change its objective.
    ``run_fn(config, seed)`` replaces the model run (tests).
    """

    spec: CalibrationSpec
    base: Any
    out: Path
    jobs: int
    backend: str
    scheduler: str | None
    run_fn: Callable[[Any, int], Any] | None = None

    def evaluate(self, name: str, candidates: list[dict[str, Any]], seed: int, replications: int,
                 noise_n: int | None = None) -> list[Fit]:
        """Run every candidate ``replications`` times into ``batches/name``; one ``Fit`` each."""
        from ccgabm.sweep import load_results, run_sweep

        fixed = self.base.with_overrides(dict(self.spec.fixed)) if self.spec.fixed else self.base
        fits: list[Fit | None] = []
        for candidate in candidates:
            try:
                fixed.with_overrides(candidate)
                fits.append(None)
            except ValueError as exc:
                fits.append(Fit(loss=math.inf, values=(), error=f"rejected by the config: {exc}"))
        valid = [i for i, f in enumerate(fits) if f is None]
        if not valid:
            return [f for f in fits if f is not None]
        batch = _batch_spec(self.spec, [candidates[i] for i in valid], seed, replications,
                            f"calibration {self.spec.study}: {name}")
        folder = self.out / "batches" / name
        fn = self.run_fn or partial(calibration_run, series=self.spec.series)
        report = run_sweep(batch, folder, jobs=self.jobs, backend=self.backend, scheduler=self.scheduler,
                           run_fn=fn, progress=False, load_config=lambda _path: self.base)
        runs, _ = load_results(folder)
        for point, index in enumerate(valid):
            failed = [f for f in report.failures if f["point_id"] == point]
            if failed:
                first = failed[0]
                fits[index] = Fit(loss=math.inf, values=(), error=f"{len(failed)} of {replications} runs "
                                  f"failed; first: {first['error_type']}: {first['error']}")
                continue
            rows = runs[runs["point_id"] == point] if len(runs) else runs
            try:
                fits[index] = fit_candidate(self.spec, rows, noise_n)
            except (ArithmeticError, ValueError, TypeError) as exc:  # scored as failed, never a crash
                fits[index] = Fit(loss=math.inf, values=(), error=f"cannot be scored: {exc}")
        return [f for f in fits if f is not None]
