"""England benchmark: England at patient level, the baseline region, and the Mesa reference.

    .venv/bin/python benchmarks/england.py [--scale 1.0] [--years 10] [--skip-england]

Runs, each in its own process (so peak memory is that run's own):

1. the baseline region (configs/baseline.toml, ~300,000 patients, 10 years);
2. England from the shared practice table (configs/england.toml) at ``--scale``;
3. the vectorised population against one ``mesa.Agent`` per patient on 20,000 patients
   (benchmarks/mesa_ratio.py);

and writes results/benchmarks/england.json and england.md with the targets beside the
measured figures. Timings depend on what else the machine is doing: the load average at
the end of each run is recorded with it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks"

TARGETS = {
    "england_wall_s": 150.0,
    "england_peak_gib": 10.0,
    "england_startup_s": 30.0,
    "baseline_simulate_s": 1.0,
    "mesa_ratio": 100.0,
}


def bench(args: list[str], json_path: Path) -> dict:
    """``ccgabm.bench`` in a fresh process; its JSON results."""
    return _run([sys.executable, "-m", "ccgabm.bench", *args], json_path)


def mesa_ratio(args: list[str], json_path: Path) -> dict:
    """benchmarks/mesa_ratio.py in a fresh process; its JSON results."""
    return _run([sys.executable, str(Path(__file__).with_name("mesa_ratio.py")), *args], json_path)


def _run(cmd: list[str], json_path: Path) -> dict:
    cmd = [*cmd, "--json", str(json_path)]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    return json.loads(json_path.read_text())


def markdown(results: dict) -> str:
    rows = ["| figure | measured | target | met |", "|---|---|---|---|"]

    def row(name: str, value: float, target: float, unit: str, lower_is_better: bool = True):
        met = value <= target if lower_is_better else value >= target
        sign = "<=" if lower_is_better else ">="
        rows.append(f"| {name} | {value:,.2f} {unit} | {sign} {target:,.0f} {unit} | "
                    f"{'yes' if met else 'NO'} |")

    eng = results.get("england", {}).get("run")
    if eng:
        row("England start-up", eng["startup_s"], TARGETS["england_startup_s"], "s")
        row("England wall (start-up + simulation)", eng["wall_s"], TARGETS["england_wall_s"], "s")
        row("England peak memory", eng["peak_rss_bytes"] / 2**30, TARGETS["england_peak_gib"], "GiB")
        rows.append(f"| England time per monthly step | {eng['step_s']:.3f} s | | |")
        for phase, seconds in eng["phase_step_s"].items():
            rows.append(f"| &nbsp; phase {phase} | {seconds:.4f} s | | |")
        rows.append(f"| England patient-months per second | {eng['patient_months_per_s']:,.0f} | | |")
    base = results["baseline"]["run"]
    row("baseline region simulation (after start-up)", base["simulate_s"],
        TARGETS["baseline_simulate_s"], "s")
    rows.append(f"| &nbsp; of which patients phase | {base['phase_step_s']['patients'] * base['months']:.3f}"
                " s | | |")
    ref = results["reference"]
    row("vectorised / per-agent Mesa (patient-months/s)", ref["ratio"], TARGETS["mesa_ratio"], "x",
        lower_is_better=False)
    rows.append(f"| &nbsp; vectorised | {ref['vectorised_patient_months_per_s']:,.0f} /s | | |")
    rows.append(f"| &nbsp; Mesa, one agent per patient | {ref['mesa_patient_months_per_s']:,.0f} /s | | |")
    rows.append(f"| &nbsp; max abs z of summary figures | {ref['max_abs_z']:.2f} | < 4 | "
                f"{'yes' if ref['max_abs_z'] < 4 else 'NO'} |")
    m = results["baseline"]["machine"]
    head = (f"# England benchmark ({time.strftime('%Y-%m-%d %H:%M')})\n\n"
            f"{m['cpus']} CPUs, {m['numba_threads']} numba threads ({m['threading_layer']}), "
            f"Python {m['python']}. Load average at the end of each run: "
            + ", ".join(f"{k} {v['machine']['load_average_1m_at_end']:.2f}"
                        for k, v in results.items()) + ".\n\n")
    return head + "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="England scale (default 1.0)")
    parser.add_argument("--years", type=int, default=10, help="England horizon (default 10)")
    parser.add_argument("--skip-england", action="store_true", help="only baseline and reference")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = {
        "baseline": bench(["configs/baseline.toml"], OUT / "baseline.json"),
        "reference": mesa_ratio(["--patients", "20000", "--months", "24"], OUT / "reference.json"),
    }
    if not args.skip_england:
        results["england"] = bench(
            ["configs/england.toml", "--scale", str(args.scale), "--years", str(args.years)],
            OUT / "england_run.json")
    (OUT / "england.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    (OUT / "england.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
