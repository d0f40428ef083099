"""Outcomes of the command line on a fixed catalogue of malformed and extreme inputs.

    .venv/bin/python benchmarks/fuzz_outcomes.py [--workers 2] [--drawn 30] [--seed 20240611]
                                                 [--only PREFIX ...] [--json FILE] [--list]

Runs every case of ``tests/fuzz_inputs.catalogue()`` (named cases: every command, every input
kind) plus ``--drawn`` cases drawn from the hypothesis strategies with a fixed seed, each as
``python -m ccgabm ...`` in its own scratch folder under a 4 GiB address-space cap and a 60 s
limit (20 s for ``viz``), on a pool of ``--workers`` processes. A finished sweep store for the
``analyze`` and resume cases is built first. Prints the count of each outcome as a Markdown
table, the outcomes by command, and every case that is neither ``ok`` nor ``clean_error`` with
its input and first stderr line. The outcomes are defined in tests/fuzz_inputs.py.
Exit status: 0 when every case passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import fuzz_inputs as fi  # noqa: E402


def cases(drawn: int, seed: int, only: list[str] | None) -> list[fi.Case]:
    """The named catalogue, then the drawn cases (inputs already in the catalogue left out)."""
    named = fi.catalogue()
    extra = [
        case
        for i, strategy in enumerate((fi.config_value_cases(), fi.config_bytes_cases(), fi.table_cases(),
                                      fi.sweep_spec_cases(), fi.cli_arg_cases()))
        for case in (fi.drawn(strategy, drawn // 5, seed + i) if drawn >= 5 else [])
    ]
    extra = [fi.Case("drawn/" + c.name, *fi.dataclasses.astuple(c)[1:]) for c in extra]
    every = fi.unique(named + extra)
    if only:
        every = [c for c in every if c.name.startswith(tuple(only))]
    return every


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _cell(text: str, limit: int = 400) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="cases run at once (default 2)")
    parser.add_argument("--drawn", type=int, default=30, help="hypothesis-drawn cases (default 30)")
    parser.add_argument("--seed", type=int, default=20240611, help="seed of the drawn cases")
    parser.add_argument("--only", nargs="+", help="run only cases whose name starts with these")
    parser.add_argument("--json", type=Path, help="also write every result to this JSON file")
    parser.add_argument("--list", action="store_true", help="list the cases and stop")
    args = parser.parse_args(argv)

    todo = cases(args.drawn, args.seed, args.only)
    if args.list:
        for case in todo:
            print(f"{case.name}\t{case.describe(80)}")
        print(f"{len(todo)} cases", file=sys.stderr)
        return 0

    started = time.perf_counter()
    results: list[fi.Result] = []
    with tempfile.TemporaryDirectory(prefix="ccgabm-fuzz-") as tmp:
        work = Path(tmp)
        store = None
        if any(c.store for c in todo):
            t0 = time.perf_counter()
            try:
                store = fi.build_store(work / "prepared")
                print(f"built the sweep store in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            except RuntimeError as exc:
                print(f"note: {exc}; cases that need it are skipped", file=sys.stderr)
                todo = [c for c in todo if not c.store]
        print(f"running {len(todo)} cases on {args.workers} workers", file=sys.stderr)
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            futures = {pool.submit(fi.run_case, case, store, work): case for case in todo}
            try:
                for n, future in enumerate(as_completed(futures), 1):
                    result = future.result()
                    results.append(result)
                    print(f"[{n}/{len(todo)}] {result.outcome:<12} {result.seconds:5.1f} s  {result.name}",
                          file=sys.stderr, flush=True)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    elapsed = time.perf_counter() - started

    order = {c.name: i for i, c in enumerate(todo)}
    results.sort(key=lambda r: order.get(r.name, 0))
    counts = Counter(r.outcome for r in results)
    print(f"# Command-line fuzz outcomes\n\n{len(results)} distinct inputs "
          f"({sum(not r.name.startswith('drawn/') for r in results)} named, "
          f"{sum(r.name.startswith('drawn/') for r in results)} drawn with seed {args.seed}), "
          f"{args.workers} workers, {elapsed / 60:.1f} min.\n")
    print(markdown_table(
        ["outcome", "cases", "share"],
        [[o, str(counts.get(o, 0)), f"{100 * counts.get(o, 0) / max(len(results), 1):.0f}%"]
         for o in fi.OUTCOMES] + [["**total**", str(len(results)), "100%"]],
    ))
    commands = sorted({_command(r) for r in results})
    print("\nBy command:\n")
    print(markdown_table(
        ["command", *fi.OUTCOMES],
        [[c, *(str(sum(1 for r in results if _command(r) == c and r.outcome == o) or "")
               for o in fi.OUTCOMES)] for c in commands],
    ))
    failing = [r for r in results if not r.passed]
    print(f"\n## Cases neither ok nor clean_error ({len(failing)})\n")
    for r in failing:
        print(f"- **{r.name}** — `{r.outcome}` (exit {r.returncode}, {r.seconds:.1f} s)\n"
              f"  - input: `{_cell(r.input, 300)}`\n"
              f"  - stderr: `{_cell(r.stderr_first or '(empty)', 300)}`\n"
              f"  - finding: {_cell(r.detail, 400)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return 0 if not failing else 1


def _command(result: fi.Result) -> str:
    text = result.input.removeprefix("ccgabm ").split(" ", 1)[0]
    known = ("run", "sweep", "analyze", "params", "schedule", "bench", "viz")
    return text if text in known else "(top level)"


if __name__ == "__main__":
    sys.exit(main())
