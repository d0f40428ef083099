"""What a sweep store holds, and whether a sweep may write into it.

- The manifest (``manifest.json`` and ``points.parquet``) records the spec, its points, seeds
  and ``spec_digest`` (``ccgabm.sweep.plan``).
- ``check_store``, on every start (again once the sweep holds the store's lock,
  ``ccgabm.sweep.store.locked``), refuses a store that holds another sweep (another spec
  digest, or more replications than asked for: a store grows, it does not shrink) unless
  ``overwrite`` empties it, and a non-empty folder that holds no sweep.
- ``check_finished_runs`` counts a run as done only when the file holding it is intact and
  its own (``ccgabm.sweep.batches.check_batches``; ``ccgabm.sweep.legacy.check_runs`` for
  stores of one file per run), and deletes the files of other runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccgabm.sweep.atomic import (
    atomic_write_json,
    atomic_write_parquet,
    json_default,
    parse_run_name,
    run_identity,
)
from ccgabm.sweep.batches import batch_files, check_batches
from ccgabm.sweep.legacy import check_runs, run_files
from ccgabm.sweep.plan import Plan, spec_digest
from ccgabm.sweep.store import LOCK_NAME, STORE_ENTRIES, StoreError, is_temporary, read_manifest

__all__ = ["check_finished_runs", "check_store", "manifest_for", "run_identity_of", "stored_digest",
           "write_manifest"]


def manifest_for(plan: Plan, version: str) -> dict[str, Any]:
    spec = plan.spec
    axes = []
    for a in spec.axes:
        axes.append(
            {"name": a.name, "values": list(a.values)}
            if a.values is not None
            else {"name": a.name, "low": a.low, "high": a.high}
        )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "format": 3,
        "spec_digest": plan.spec_digest,
        "spec_path": str(spec.source) if spec.source else None,
        "spec": spec.raw,
        "base": str(spec.base),
        "description": spec.description,
        "sampling": spec.sampling,
        "samples": spec.samples,
        "num_levels": spec.num_levels,
        "seed": spec.seed,
        "replications": spec.replications,
        "common_random_numbers": spec.common_random_numbers,
        "axes": axes,
        "fixed": spec.fixed,
        "keep": list(spec.keep),
        "n_points": len(plan.points),
        "n_runs": plan.n_runs,
        "package_version": version,
        "written": now,
        "points": plan.points.to_dict(orient="records"),
    }


def write_manifest(out: Path, plan: Plan, manifest: dict[str, Any]) -> None:
    atomic_write_json(out / "manifest.json", manifest)
    atomic_write_parquet(out / "points.parquet", plan.points)


# manifest fields compared to say how a refused spec differs from the stored one
_SPEC_FIELDS = (
    "base",
    "seed",
    "replications",
    "sampling",
    "samples",
    "num_levels",
    "common_random_numbers",
    "axes",
    "fixed",
    "keep",
)


def stored_digest(manifest: dict[str, Any]) -> str | None:
    if manifest.get("spec_digest"):
        return str(manifest["spec_digest"])
    try:  # stores written before the digest was recorded: recompute it from the manifest
        return spec_digest(
            manifest["seed"],
            manifest.get("common_random_numbers", False),
            list(manifest.get("keep", [])),
            [str(p["config_digest"]) for p in manifest["points"]],
        )
    except (KeyError, TypeError, ValueError):
        return None


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=json_default))


def check_store(out: Path, manifest: dict[str, Any], overwrite: bool) -> bool:
    """Refuse (``StoreError``) a store this sweep may not write into; writes nothing.

    Returns True when the store must be emptied first (``overwrite`` of a non-empty store).
    """
    if out.exists() and not out.is_dir():
        raise StoreError(f"--out {out} is a file; a sweep needs a folder")
    if not out.is_dir():
        return False
    entries = [p.name for p in out.iterdir() if not is_temporary(p.name) and p.name != LOCK_NAME]
    if not entries:
        return False
    if overwrite:
        foreign = [n for n in sorted(entries) if n not in STORE_ENTRIES]
        if foreign:
            raise StoreError(
                f"refusing to empty {out}: it holds {foreign[0]!r}, which is not part of a sweep "
                "store; choose a new --out folder"
            )
        return True
    again = "pass --overwrite (overwrite=True) to replace it, or choose a new --out folder"
    try:
        stored = read_manifest(out)
    except FileNotFoundError:
        if any(n not in STORE_ENTRIES for n in entries):
            again = "choose a new --out folder"
        raise StoreError(f"{out} is not empty and holds no sweep (no manifest.json); {again}") from None
    except StoreError as exc:
        raise StoreError(f"{exc}; {again}") from None
    if stored_digest(stored) == manifest["spec_digest"]:
        if int(stored.get("replications", 0)) > int(manifest["replications"]):
            raise StoreError(
                f"{out} holds {stored['replications']} replications of this sweep and the spec "
                f"asks for {manifest['replications']}: a store can grow, not shrink; {again}"
            )
        return False
    differs = [k for k in _SPEC_FIELDS if _plain(stored.get(k)) != _plain(manifest.get(k))]
    what = ", ".join(differs) if differs else "the base scenario's parameter values"
    raise StoreError(
        f"{out} holds a different sweep (spec digest {stored_digest(stored)}, this spec "
        f"{manifest['spec_digest']}; differs in: {what}); {again}"
    )


def check_finished_runs(
    out: Path, idents: dict[tuple[int, int], dict[str, Any]]
) -> tuple[set[tuple[int, int]], int, str]:
    """Check every stored result; delete the files that fail the check or hold other runs.

    Returns the runs that are done, how many result files were discarded (a batch file, or a
    one-run file of the earlier layout) and the first problem.
    """
    done: set[tuple[int, int]] = set()
    bad: list[tuple[Path, str, list[Path]]] = []  # (file named, problem, files to delete)
    single = run_files(out)
    for key, path in sorted(single.items()):
        if key not in idents:
            bad.append((path, "is not a run of this sweep", [path, out / "fates" / path.name]))
    checks = check_runs(out, {key: idents[key] for key in sorted(single) if key in idents})
    for key, check in checks.items():
        if check.done:
            done.add(key)
        elif check.bad:
            path = single[key]
            bad.append((check.path or path, check.reason, [path, out / "fates" / path.name]))
    for key, path in run_files(out, "fates").items():
        if key not in done:  # fates of a run that never finished, or of another sweep
            path.unlink(missing_ok=True)
    for batch in check_batches(out, idents, claimed=done):
        name = batch.path.name
        if batch.problem:
            bad.append((batch.path, batch.problem, [out / "runs" / name, out / "fates" / name]))
        else:
            done.update(batch.keys)
    written = batch_files(out, "runs")
    for number, path in batch_files(out, "fates").items():
        if number not in written:
            path.unlink(missing_ok=True)  # a kill between a batch's two files
    for _, _, paths in bad:
        for path in paths:
            path.unlink(missing_ok=True)
    folder = out / "failures"
    if folder.is_dir():
        for path in folder.glob("point-*_rep-*.json"):
            key = parse_run_name(path.stem)
            # a failure record of a run that has since finished (a kill between writing the
            # run and removing its old record) is stale
            if key not in idents or key in done or not _readable_json(path):
                path.unlink(missing_ok=True)
    first = f"{bad[0][0].relative_to(out)} {bad[0][1]}" if bad else ""
    return done, len(bad), first


def _readable_json(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return True


def run_identity_of(plan: Plan, pid: int, rep: int, version: str) -> dict[str, Any]:
    seed = plan.seeds[pid][rep]
    return run_identity(
        pid, rep, plan.digest(pid), version, seed.seed, seed.entropy, seed.spawn_key_text, plan.spec.keep
    )
