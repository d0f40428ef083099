"""Vectorised population against one ``mesa.Agent`` per patient: patient-months per second.

    .venv/bin/python benchmarks/mesa_ratio.py [--patients 200000] [--months 12] [--json FILE]

Both run in this process on the same starting patients, practice levers and hospital
capacities, and apply the same patient rules (the per-agent model is the test oracle in
tests/reference/). Prints both speeds, their ratio and the largest |z| of the difference of
their summary figures (below 4: the two agree). The vectorised side is timed after its
kernels are loaded, as the best of ``--repeats`` runs; the Mesa side once.

The default, 200,000 patients, is about one commissioning group (the mean at authorisation was
226,000: NHS Commissioning Board, 2013). The vectorised side's speed grows with the population
(its monthly fixed costs, the waiting-list cut-offs and the call itself, are shared by more
patients) while the per-agent side's does not, so the ratio is larger for England's 60M and
smaller for a toy population: at 20,000 patients it is about half.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from reference.compare import (  # noqa: E402
    equivalence_table,
    patient_world,
    run_reference,
    run_vectorised,
)

from ccgabm.config import Config  # noqa: E402


def mesa_ratio(patients: int = 200_000, months: int = 12, seed: int = 3,
               repeats: int = 3) -> dict[str, Any]:
    """Both implementations side by side on ``patients`` patients for ``months`` months."""
    import numba

    cfg = Config().with_overrides({
        "region.n_groups": 2, "region.practices_per_group": 4,
        "region.target_population": int(patients),
    })
    pw = patient_world(cfg, seed=seed, capacity_ratio=1.04)
    run_vectorised(pw, 1)  # load the compiled kernel before timing
    vec = min((run_vectorised(pw, months) for _ in range(repeats)), key=lambda r: r.seconds)
    ref = run_reference(pw, months)
    table = equivalence_table(vec, ref)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "patients": pw.n_patients,
        "months": months,
        "vectorised_patient_months_per_s": vec.patient_months_per_second,
        "mesa_patient_months_per_s": ref.patient_months_per_second,
        "vectorised_s": vec.seconds,
        "mesa_s": ref.seconds,
        "ratio": vec.patient_months_per_second / ref.patient_months_per_second,
        "max_abs_z": max(abs(float(r["z"])) for r in table),
        "figures": [{k: (float(v) if k != "figure" else v) for k, v in r.items()} for r in table],
        "machine": {"cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
                    "python": platform.python_version(), "load_average_1m_at_end": load[0]},
    }


def format_report(result: dict[str, Any]) -> str:
    m = result["machine"]
    return "\n".join([
        f"per-agent Mesa reference, {result['patients']:,} patients x {result['months']} months:",
        f"  vectorised          {result['vectorised_patient_months_per_s']:14,.0f} patient-months/s",
        f"  Mesa, agent/patient {result['mesa_patient_months_per_s']:14,.0f} patient-months/s",
        f"  ratio               {result['ratio']:14,.0f}x   (summary figures agree: "
        f"max |z| = {result['max_abs_z']:.2f})",
        f"machine: {m['cpus']} CPUs, {m['numba_threads']} numba threads, "
        f"load average {m['load_average_1m_at_end']:.2f}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200_000, help="patients (default 200,000)")
    parser.add_argument("--months", type=int, default=12, help="months (default 12)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of the vectorised side, best kept (default 3)")
    parser.add_argument("--seed", type=int, default=3, help="world seed (default 3)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    result = mesa_ratio(args.patients, args.months, args.seed, args.repeats)
    print(format_report(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
