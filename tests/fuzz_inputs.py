"""Malformed and extreme inputs for the ``ccgabm`` command line, and what running one did.

An input is a :class:`Case`: the argument list of one command plus the files it reads
(scenario TOML, practice-table CSV, sweep spec), written into a fresh scratch folder that is
the command's working directory. :func:`run_case` runs it as a user would,
``python -m ccgabm ARGS`` in a child process with an address-space cap (``MEMORY_CAP``) and a
wall-clock limit, and :func:`classify` names the outcome. The project's rule for inputs: exit 0
with finite figures, or one clean error line and exit status 2; never a traceback; an output
folder either untouched or fully written.

Outcomes, by precedence (the first that applies wins; ``Result.detail`` lists every finding):

``hang``
    still running at the time limit; the child's whole process group is killed.
``memory``
    killed by SIGKILL, or stderr reports a failed allocation (``MemoryError``, numpy's
    ``Unable to allocate``, ``std::bad_alloc``, ``Cannot allocate memory``) under the cap,
    unless that report is itself a clean error line.
``traceback``
    stderr holds a Python ``Traceback``, the child died of a signal other than SIGKILL
    (a crash), or a sweep run failed inside a worker (the report's ``FAILED`` lines: the
    traceback is hidden in ``failures/``, but the input was accepted and then crashed).
``half_written``
    a staging entry (hidden ``.*partial*``, ``.tmp-*`` or ``.trash-*``) was left behind; after
    exit 0, a declared output (run folder, sweep store, analysis folder, output file) is
    missing or incomplete; after a non-zero exit, anything in the scratch folder was created,
    changed or removed (a failed command must leave everything as it was).
``misleading``
    the exit status and stderr disagree with the rule: an ``error:`` line with exit 0; a
    non-zero exit whose stderr is empty or is not exactly one error line (argparse's usage
    lines plus its error line count as one); a clean error line with an exit status other
    than 2; or exit 0 for an input that must be refused (``Case.must_fail``: a value outside
    its declared range or choices, an unknown key or section, a file that is not TOML).
``wrong``
    exit 0 but a figure is not finite or is absurd: ``NaN``/``Infinity`` in summary.json or a
    JSON output, an infinite value in a sweep row, ``nan``/``inf`` printed on stdout, a
    negative count or rate, a share outside [0, 1], or a magnitude above 1e15.
``clean_error``
    exit status 2 and stderr is exactly one non-empty line ``error: ...``, or argparse's
    ``usage: ...`` (with its indented continuation lines) followed by one
    ``ccgabm ...: error: ...`` line; and nothing written.
``ok``
    exit 0, no error line, declared outputs complete, every figure finite (null allowed).

Strategies build cases of each input kind: scenario configs (malformed bytes, unknown sections
and keys, wrong types, out-of-range and extreme-but-allowed values from each field's
``lo``/``hi``/``choices``), practice tables, sweep specs and argument lists. Runs are kept tiny
(one year, a few thousand patients) unless a case is about size; configs that would be big if
accepted are checked with ``ccgabm schedule``, which validates without simulating.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
SHARED_TABLE = ROOT.parent / "shared" / "data" / "gp_practices_jan2021_listsize_imd2019.csv"

OUTCOMES = ("ok", "clean_error", "misleading", "traceback", "wrong", "half_written", "hang", "memory")
PASSING = frozenset({"ok", "clean_error"})
MEMORY_CAP = 4 << 30  # bytes of address space per child (RLIMIT_AS, inherited by its workers)
TIMEOUT = 60.0  # seconds per command
VIZ_TIMEOUT = 20.0  # ``viz`` only ever gets inputs it must refuse; a server that starts is a hang
ABSURD = 1e15  # no figure of a tiny run comes near this magnitude

# --------------------------------------------------------------------------------------------
# Cases and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One command-line input: arguments, the files it reads and what it should write.

    ``args`` may hold ``{scratch}`` (the scratch folder's absolute path), ``{busy_port}`` (a
    port held open on 127.0.0.1 while the command runs) and ``{table}`` (the shared practice
    table). ``outputs`` are ``(relative path, kind)`` pairs checked after exit 0, kind one of
    ``run``, ``sweep``, ``analysis``, ``file``, ``json``. ``store`` copies a finished sweep
    store to that relative path first. ``must_fail``: exit 0 is ``misleading``.
    """

    name: str
    args: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()
    dirs: tuple[str, ...] = ()
    outputs: tuple[tuple[str, str], ...] = ()
    store: str | None = None
    must_fail: bool = False
    timeout: float = TIMEOUT

    @property
    def key(self) -> tuple:
        """Identity of the input (the name is left out)."""
        return (self.args, self.files, self.dirs, self.outputs, self.store)

    def describe(self, limit: int = 160) -> str:
        """The command line and a short view of each file."""
        text = "ccgabm " + squeeze(" ".join(_shell_word(a) for a in self.args))
        for path, data in self.files:
            shown = repr(data[:limit])[2:-1] + ("..." if len(data) > limit else "")
            text += f"  [{path}: {squeeze(shown)}]"
        if self.dirs:
            text += f"  [folders: {', '.join(self.dirs)}]"
        if self.store:
            text += f"  [sweep store at {self.store}]"
        return text


@dataclass
class Result:
    """What one case did."""

    name: str
    outcome: str
    returncode: int | None
    seconds: float
    stderr_first: str
    detail: str
    input: str
    stdout_tail: str = ""
    stderr_tail: str = ""
    findings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.outcome in PASSING


def _shell_word(text: str) -> str:
    return text if re.fullmatch(r"[\w@%+=:,./{}-]+", text) else repr(text)


def squeeze(text: str) -> str:
    """Long runs of one character shortened (``xxx...(300 x 'x')``) for reports."""
    return re.sub(r"(.)\1{19,}", lambda m: f"{m.group(1) * 3}...({len(m.group(0))} x {m.group(1)!r})",
                  text, flags=re.DOTALL)


# --------------------------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """Environment of every child: this checkout first on the path, no GUI, no viz settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CCGABM_", "SOLARA_", "PYTEST_", "COV_"))}
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _limit_memory() -> None:  # runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def prepare(case: Case, scratch: Path, store_src: Path | None = None) -> None:
    """Copy the sweep store, then make the case's folders and write its files, into ``scratch``.

    Files come last, so a case may overwrite one file of the copied store.
    """
    if case.store:
        if store_src is None or not (store_src / "manifest.json").is_file():
            raise RuntimeError(f"case {case.name} needs a finished sweep store (none was built)")
        shutil.copytree(store_src, scratch / case.store)
    for rel in case.dirs:
        (scratch / rel).mkdir(parents=True, exist_ok=True)
    for rel, data in case.files:
        path = scratch / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry under ``root``: relative path -> (kind, size, mtime in ns); links not followed."""
    entries: dict[str, tuple[str, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            try:
                st_ = path.lstat()
            except OSError:
                continue
            kind = "dir" if path.is_dir() and not path.is_symlink() else "file"
            entries[str(path.relative_to(root))] = (kind, st_.st_size, st_.st_mtime_ns)
    return entries


def run_case(case: Case, store_src: Path | None = None, workdir: Path | None = None,
             keep: bool = False) -> Result:
    """Run one case in a fresh scratch folder and classify it (the folder is then removed)."""
    scratch = Path(tempfile.mkdtemp(prefix="fuzz-", dir=workdir))
    busy: socket.socket | None = None
    try:
        prepare(case, scratch, store_src)
        subs = {"{scratch}": str(scratch), "{table}": str(SHARED_TABLE)}
        if any("{busy_port}" in a for a in case.args):
            busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            subs["{busy_port}"] = str(busy.getsockname()[1])
        args = []
        for a in case.args:
            for k, v in subs.items():
                a = a.replace(k, v)
            args.append(a)
        before = snapshot(scratch)
        started = time.perf_counter()
        rc, out, err, timed_out = _execute([sys.executable, "-m", "ccgabm", *args], scratch,
                                           case.timeout)
        seconds = time.perf_counter() - started
        after = snapshot(scratch)
        outcome, findings = classify(case, rc, out, err, timed_out, before, after, scratch)
    finally:
        if busy is not None:
            busy.close()
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    first = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "")
    if outcome == "traceback":  # the exception line says more than "Traceback ..."
        first = _exception_line(err) or first
    return Result(
        name=case.name, outcome=outcome, returncode=rc, seconds=seconds,
        stderr_first=squeeze(first.strip())[:300], detail=squeeze("; ".join(findings))[:600],
        input=case.describe(), stdout_tail=out[-2000:], stderr_tail=err[-4000:], findings=findings,
    )


def _execute(cmd: list[str], cwd: Path, timeout: float) -> tuple[int | None, str, str, bool]:
    """Run ``cmd`` in its own session; on timeout kill the whole group (sweep workers too)."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, preexec_fn=_limit_memory, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        timed_out = True
    _kill_group(proc.pid)  # workers a finished command left running
    decode = lambda b: b.decode("utf-8", errors="replace")  # noqa: E731
    return (None if timed_out else proc.returncode), decode(out), decode(err), timed_out


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError as exc:
        if exc.errno not in (errno.ESRCH, errno.EPERM):
            raise


def _exception_line(stderr: str) -> str:
    """The last line of the last traceback in ``stderr`` (``ValueError: ...``)."""
    lines = stderr.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Traceback"):
            tail = [ln for ln in lines[i + 1:] if ln and not ln.startswith((" ", "\t"))]
            return tail[0] if tail else ""
    return ""


# --------------------------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------------------------

_ARGPARSE_ERROR = re.compile(r"^ccgabm(?: [\w.-]+)*: error: \S")
_MEMORY_SIGNS = ("MemoryError", "Unable to allocate", "bad_alloc", "Cannot allocate memory",
                 "out of memory")
_STAGING = re.compile(r"^\..*partial|^\.tmp-|^\.trash-")
_NONFINITE_WORD = re.compile(r"(?<![\w.])[-+]?(nan|inf|infinity)(?![\w])", re.IGNORECASE)
_RUN_FILES = ("summary.json", "overview.png", "monthly.parquet", "group_fates.parquet")


def stderr_shape(stderr: str) -> str:
    """``error_line`` (one ``error: ...`` line), ``usage_error`` (argparse), ``empty`` or ``other``."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "empty"
    if len(lines) == 1 and lines[0].startswith("error: ") and lines[0][7:].strip():
        return "error_line"
    if (len(lines) >= 2 and lines[0].startswith("usage: ") and _ARGPARSE_ERROR.match(lines[-1])
            and all(ln.startswith((" ", "\t")) for ln in lines[1:-1])):
        return "usage_error"
    return "other"


def _has_error_line(stderr: str) -> bool:
    return any(ln.startswith("error:") or _ARGPARSE_ERROR.match(ln) for ln in stderr.splitlines())


def classify(
    case: Case,
    returncode: int | None,
    stdout: str,
    stderr: str,
    timed_out: bool,
    before: dict[str, tuple[str, int, int]],
    after: dict[str, tuple[str, int, int]],
    scratch: Path,
) -> tuple[str, list[str]]:
    """Name the outcome of one run of ``case`` (see the module docstring) and list the findings.

    ``before``/``after`` are :func:`snapshot`\\ s of ``scratch`` around the command; the declared
    outputs are read from ``scratch`` after it.
    """
    found: dict[str, list[str]] = {k: [] for k in OUTCOMES}
    shape = stderr_shape(stderr)
    clean = shape in ("error_line", "usage_error")
    if timed_out:
        found["hang"].append(f"still running after {case.timeout:.0f} s")
    rc = returncode
    if rc is not None and rc < 0:
        sig = _signal_name(-rc)
        (found["memory"] if -rc == signal.SIGKILL else found["traceback"]).append(
            f"killed by {sig}")
    if not clean and any(s in stderr for s in _MEMORY_SIGNS):
        found["memory"].append("allocation failed: " + _first_with(stderr, _MEMORY_SIGNS))
    if "Traceback" in stderr:
        found["traceback"].append(_exception_line(stderr) or "traceback on stderr")
    if rc is not None and "FAILED point" in stderr:
        found["traceback"].append("a sweep run failed: " + _first_with(stderr, ("FAILED point",)))

    # files: staging leftovers anywhere, declared outputs, a failed command's traces
    new = {p for p in after if p not in before}
    changed = {p for p in after if p in before and after[p] != before[p]}
    removed = {p for p in before if p not in after}
    declared = [str(Path(rel)) for rel, _ in case.outputs]  # a user may name a folder ".x-partial"
    staging = sorted(p for p in new if _STAGING.search(Path(p).name)
                     and not any(p == d or p.startswith(d + os.sep) for d in declared))
    if staging:
        found["half_written"].append("staging left behind: " + ", ".join(staging[:3]))
    if rc == 0:
        for rel, kind in case.outputs:
            found["half_written"].extend(_check_output(scratch / rel, kind, found["wrong"]))
    elif not timed_out:
        touched = sorted(new | changed | removed)
        if touched:
            found["half_written"].append(
                f"exit {rc} but the scratch folder changed: " + ", ".join(touched[:4])
                + (f" (+{len(touched) - 4} more)" if len(touched) > 4 else ""))

    # status and stderr
    if rc == 0:
        if _has_error_line(stderr):
            found["misleading"].append("an error line on stderr but exit status 0")
        elif case.must_fail:
            found["misleading"].append("exit 0 for an input that must be refused")
        if case.args and case.args[0] in ("run", "bench"):
            m = _NONFINITE_WORD.search(stdout)
            if m:
                found["wrong"].append(f"stdout shows {m.group(0)!r}: "
                                      + _first_with(stdout, (m.group(0),)))
    elif rc is not None and rc > 0:
        if shape == "empty":
            found["misleading"].append(f"exit {rc} with nothing on stderr")
        elif not clean:
            found["misleading"].append(f"exit {rc} but stderr is not one error line")
        elif rc != 2:
            found["misleading"].append(f"clean error line but exit status {rc}, not 2")

    for outcome in ("hang", "memory", "traceback", "half_written", "misleading", "wrong"):
        if found[outcome]:
            findings = [f"{k}: {m}" for k in OUTCOMES for m in found[k]]
            return outcome, findings
    return ("ok" if rc == 0 else "clean_error"), []


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _first_with(text: str, needles: tuple[str, ...]) -> str:
    for ln in text.splitlines():
        if any(n in ln for n in needles):
            return ln.strip()[:200]
    return ""


def _check_output(path: Path, kind: str, wrong: list[str]) -> list[str]:
    """Problems with one declared output after exit 0 (half-written); figures go to ``wrong``."""
    if kind == "run":
        missing = [f for f in _RUN_FILES if not (path / f).is_file()]
        if missing:
            return [f"{path.name}/ lacks {', '.join(missing)}"]
        wrong.extend(check_figures(path / "summary.json"))
        return []
    if kind == "sweep":
        if not (path / "manifest.json").is_file() or not (path / "points.parquet").is_file():
            return [f"{path.name}/ lacks manifest.json or points.parquet"]
        runs = sorted((path / "runs").glob("*.parquet"))
        try:
            planned = int(json.loads((path / "manifest.json").read_text())["n_runs"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return [f"{path.name}/manifest.json unreadable after exit 0 ({exc})"]
        stored = _stored_rows(runs)  # a file holds one run or a batch of them
        if stored != planned:
            return [f"{path.name}/ holds {stored} of {planned} runs after exit 0"]
        wrong.extend(_check_rows(runs))
        return []
    if kind == "analysis":
        folder = path / "analysis"
        if not (folder / "report.md").is_file():
            return [f"{path.name}/analysis/report.md missing after exit 0"]
        return []
    if kind in ("file", "json"):
        if not path.is_file() or path.stat().st_size == 0:
            return [f"{path.name} missing or empty after exit 0"]
        if kind == "json":
            wrong.extend(check_figures(path))
        return []
    raise ValueError(f"unknown output kind {kind!r}")


def check_figures(path: Path) -> list[str]:
    """Non-finite or absurd numbers in a JSON file of figures (null is allowed)."""
    problems: list[str] = []

    def reject(token: str) -> float:
        problems.append(f"{path.name} holds {token}")
        return float(token.replace("Infinity", "inf"))

    try:
        data = json.loads(path.read_text(), parse_constant=reject)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return [f"{path.name} is not valid JSON ({exc})"]
    problems.extend(_absurd(data, ""))
    return problems


def _absurd(value: Any, key: str) -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _absurd(v, f"{key}.{k}" if key else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _absurd(v, f"{key}[{i}]")]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    name = key.rsplit(".", 1)[-1]
    if not math.isfinite(value):
        return [f"{key} = {value}"]
    if "seed" in name or "digest" in name:  # identifiers, not figures
        return []
    if abs(value) > ABSURD:
        return [f"{key} = {value:g} is absurdly large"]
    signed = any(w in name for w in ("gap", "diff", "change", "delta", "effect", "balance"))
    if value < 0 and not signed and (name.endswith("_per_1000") or name.startswith(
            ("population_", "groups_", "n_groups", "practices_"))):
        return [f"{key} = {value:g} is negative"]
    # share_referred_per_year is per person-year of registration: it passes 1 only when nearly
    # every patient is referred and lists turn over (see ccgabm.metrics.headline_figures)
    upper = 1.1 if name == "share_referred_per_year" else 1.0
    if name.startswith("share_") and not 0 <= value <= upper:
        return [f"{key} = {value:g} is not a share"]
    if name == "years_simulated" and value < 1:
        return [f"{key} = {value:g}"]
    return []


def _stored_rows(paths: list[Path]) -> int:
    """Rows in the parquet files (an unreadable file counts none; ``_check_rows`` names it)."""
    import pyarrow.parquet as pq

    total = 0
    for path in paths:
        try:
            total += pq.read_metadata(path).num_rows
        except Exception:  # noqa: BLE001 - reported by _check_rows
            continue
    return total


def _check_rows(paths: list[Path]) -> list[str]:
    import numpy as np
    import pandas as pd

    problems = []
    for path in paths:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # any unreadable file is a finding, not a crash of the suite
            problems.append(f"runs/{path.name} unreadable ({type(exc).__name__})")
            continue
        numbers = frame.select_dtypes("number")
        bad = [c for c in numbers.columns if np.isinf(numbers[c].to_numpy(dtype=float)).any()]
        if bad:
            problems.append(f"runs/{path.name} has infinite {', '.join(bad[:3])}")
    return problems


# --------------------------------------------------------------------------------------------
# TOML text
# --------------------------------------------------------------------------------------------


class Raw(str):
    """A value written into TOML as is (a date, or deliberately malformed text)."""


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\' or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def toml_document(data: dict[str, Any]) -> str:
    """A TOML document: plain keys first, then one ``[table]`` per dict value."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{toml_key(name)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The model's parameters (declared ranges) and tiny runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    section: str
    name: str
    kind: str  # int, float, str, bool
    default: Any
    lo: float | None
    hi: float | None
    choices: tuple | None

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"


def parameters() -> list[Param]:
    """Every declared parameter, from ``ccgabm.config.SECTIONS``."""
    from ccgabm.config import SECTIONS

    out = []
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            choices = f.metadata.get("choices")
            out.append(Param(section, f.name, kind, f.default, f.metadata.get("lo"),
                             f.metadata.get("hi"), tuple(choices) if choices is not None else None))
    return out


TINY: dict[str, dict[str, Any]] = {
    "run": {"years": 1},
    "region": {"n_groups": 2, "practices_per_group": 3, "target_population": 6000},
}
# a value above these makes a run big; such configs are only validated (``schedule``)
SIZE_LIMITS = {
    "run.years": 3,
    "region.n_groups": 12,
    "region.practices_per_group": 12,
    "region.target_population": 20_000,
}
# fields whose extremes are handled by dedicated cases (world kind and table path)
SPECIAL = {"world.kind", "world.table_path"}


def merged(edits: dict[str, Any], base: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """``base`` (default ``TINY``) with dotted ``section.key`` edits applied."""
    data: dict[str, Any] = {s: dict(t) for s, t in (TINY if base is None else base).items()}
    for dotted, value in edits.items():
        section, _, key = dotted.partition(".")
        table = data.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = value
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def is_tiny(data: dict[str, Any]) -> bool:
    """Would this config, if accepted, be a run of a few seconds and a few hundred MB?"""
    def get(dotted: str, default: Any) -> Any:
        section, _, key = dotted.partition(".")
        table = data.get(section)
        return table.get(key, default) if isinstance(table, dict) else default

    for dotted, limit in SIZE_LIMITS.items():
        v = _number(get(dotted, limit))
        if v is not None and (not math.isfinite(v) and v > 0 or v > limit):
            return False
    if get("world.kind", "region") not in ("region",):
        return False
    tp = _number(get("region.target_population", 1))
    if tp is not None and tp <= 0:
        mean = _number(get("region.list_size_log_mean", 8.9)) or 8.9
        sd = _number(get("region.list_size_log_sd", 0.79)) or 0.79
        if not (math.isfinite(mean) and math.isfinite(sd)) or mean > 9.0 or sd > 1.0:
            return False
    return True


def config_case(name: str, text: str | bytes, *, must_fail: bool = False,
                extra: tuple[str, ...] = (), validate_only: bool = False) -> Case:
    """``run`` (or ``schedule`` when ``validate_only``) of one scenario file."""
    data = text.encode() if isinstance(text, str) else text
    if validate_only:
        return Case(name, ("schedule", "cfg.toml", *extra), files=(("cfg.toml", data),),
                    must_fail=must_fail)
    return Case(name, ("run", "cfg.toml", "--out", "out", "--no-progress", *extra),
                files=(("cfg.toml", data),), outputs=(("out", "run"),), must_fail=must_fail)


def edits_case(name: str, edits: dict[str, Any], *, must_fail: bool = False,
               base: dict[str, dict[str, Any]] | None = None, command: str | None = None) -> Case:
    """A tiny scenario with ``edits``: ``run`` if tiny, else ``schedule`` (validation only).

    ``command="run"`` runs it whatever its size: for cases about size, whose refusal must be
    instant (or which the caller knows to be small).
    """
    data = merged(edits, base)
    validate_only = not is_tiny(data) if command is None else command == "schedule"
    return config_case(name, toml_document(data), must_fail=must_fail, validate_only=validate_only)


# --------------------------------------------------------------------------------------------
# Values: allowed extremes and refused ones
# --------------------------------------------------------------------------------------------

DATE = Raw("1979-05-27T07:32:00Z")


def extreme_values(p: Param) -> list[Any]:
    """Allowed values at the edges of a parameter's declared range (or each choice)."""
    if p.kind == "bool":
        return [True, False]
    if p.choices is not None:
        return list(p.choices)
    if p.kind == "str":
        return [""]
    values: list[Any] = []
    for bound in (p.lo, p.hi):
        if bound is not None:
            values.append(int(bound) if p.kind == "int" else float(bound))
    if p.kind == "float" and p.lo is not None and p.hi is not None:
        values += [math.nextafter(float(p.lo), math.inf), math.nextafter(float(p.hi), -math.inf)]
    return values or [p.default]


def refused_values(p: Param) -> list[tuple[str, Any]]:
    """Values the declaration rules out, each with what is wrong with it."""
    out: list[tuple[str, Any]] = []
    if p.kind == "bool":
        return [("int for bool", 1), ("string for bool", "true"), ("float for bool", 0.0),
                ("date for bool", DATE)]
    if p.choices is not None:
        first = str(p.choices[0])
        return [("empty choice", ""), ("upper-case choice", first.upper() + "_X"),
                ("padded choice", f" {first} "), ("NUL choice", first + "\x00"),
                ("int for choice", 1), ("list for choice", [first])]
    if p.kind == "str":
        return [("int for string", 1), ("bool for string", True), ("list for string", ["a"])]
    if p.lo is not None:
        below = (int(p.lo) - 1) if p.kind == "int" else math.nextafter(float(p.lo), -math.inf)
        out.append(("below lo", below))
    if p.hi is not None:
        above = (int(p.hi) + 1) if p.kind == "int" else math.nextafter(float(p.hi), math.inf)
        out.append(("above hi", above))
    out += [("NaN", math.nan), ("+inf", math.inf), ("-inf", -math.inf),
            ("string number", str(p.default)), ("bool for number", True),
            ("list for number", [p.default]), ("table for number", {"value": p.default}),
            ("date for number", DATE)]
    if p.kind == "int":
        out += [("fraction for int", 1.5), ("huge int", 10**30), ("below int64", -(2**63) - 1)]
    else:
        out += [("1e308", 1e308), ("-1e308", -1e308)]
    return out


# --------------------------------------------------------------------------------------------
# Hypothesis strategies
# --------------------------------------------------------------------------------------------

_PARAMS: list[Param] | None = None


def _params() -> list[Param]:
    global _PARAMS
    if _PARAMS is None:
        _PARAMS = parameters()
    return _PARAMS


def _plain_params() -> list[Param]:
    return [p for p in _params() if p.dotted not in SPECIAL]


safe_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
names = st.one_of(
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    safe_text.filter(bool),
    st.sampled_from(["", " ", "Run", "RUN", "run ", "région", "n_group", "years", "seed",
                     "__class__", "base_dir", "1", "-", "a.b", "dilemma_", "table-path"]),
)


@st.composite
def toml_scalars(draw) -> Any:
    return draw(st.one_of(
        st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(), safe_text, st.just(DATE), st.lists(st.integers(-3, 3), max_size=3),
    ))


@st.composite
def extreme_edit(draw) -> tuple[str, Any, bool]:
    p = draw(st.sampled_from(_plain_params()))
    return p.dotted, draw(st.sampled_from(extreme_values(p))), False


@st.composite
def refused_edit(draw) -> tuple[str, Any, bool]:
    p = draw(st.sampled_from(_plain_params()))
    _, value = draw(st.sampled_from(refused_values(p)))
    return p.dotted, value, True


@st.composite
def wild_edit(draw) -> tuple[str, Any, bool]:
    """Any value of any TOML type for a known key (refused unless it fits the declaration)."""
    p = draw(st.sampled_from(_plain_params()))
    value = draw(toml_scalars())
    return p.dotted, value, not _fits(p, value)


@st.composite
def unknown_edit(draw) -> tuple[str, Any, bool]:
    sections = [p.section for p in _params()]
    if draw(st.booleans()):
        section = draw(st.sampled_from(sections))
        known = {p.name for p in _params() if p.section == section}
        key = draw(names.filter(lambda k: k not in known))
    else:
        section = draw(names.filter(lambda s: s not in sections))
        key = draw(names)
    return f"{section}.{key}", draw(toml_scalars()), True


def _fits(p: Param, value: Any) -> bool:
    if p.kind == "bool":
        return isinstance(value, bool)
    if p.kind == "str":
        return isinstance(value, str) and not isinstance(value, Raw) and (
            p.choices is None or value in p.choices)
    if isinstance(value, bool) or not isinstance(value, int | float) or isinstance(value, Raw):
        return False
    if p.kind == "int" and not isinstance(value, int):
        return False
    if value != value:
        return False
    return (p.lo is None or value >= p.lo) and (p.hi is None or value <= p.hi)


@st.composite
def config_value_cases(draw, refused: bool | None = None) -> Case:
    """A tiny scenario with one to three edits: extreme-but-allowed, refused, or unknown keys.

    ``refused=True`` keeps only edits that must be refused (fast, validation only);
    ``False`` only allowed extremes (real tiny runs); ``None`` mixes them.
    """
    if refused is True:
        kinds = st.one_of(refused_edit(), unknown_edit())
    elif refused is False:
        kinds = extreme_edit()
    else:
        kinds = st.one_of(extreme_edit(), refused_edit(), wild_edit(), unknown_edit())
    edits = draw(st.lists(kinds, min_size=1, max_size=3, unique_by=lambda e: e[0]))
    must_fail = any(bad for _, _, bad in edits)
    data = {k: v for k, v, _ in edits}
    return edits_case("config/values", data, must_fail=must_fail)


_TRUNCATABLE = toml_document(merged({"finance.pace_of_change": 0.5, "dilemma.choice": "join",
                                     "policy.referral_management": True}))


@st.composite
def config_bytes_cases(draw) -> Case:
    """Malformed scenario files: non-UTF-8, binary, truncated or broken TOML."""
    kind = draw(st.sampled_from(["binary", "non_utf8", "truncated", "broken", "utf16", "nul"]))
    text = _TRUNCATABLE.encode()
    if kind == "binary":
        data = draw(st.binary(min_size=1, max_size=200))
    elif kind == "non_utf8":
        at = draw(st.integers(0, len(text)))
        bad = draw(st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3", b"\xe9", b"\x80\x80", b"\xed\xa0\x80"]))
        data = text[:at] + bad + text[at:]
    elif kind == "truncated":
        data = text[: draw(st.integers(0, len(text) - 1))]
    elif kind == "broken":
        junk = draw(st.sampled_from(["[run", "years = ", "= 1", "[[run]]", "run = 5", "years = 1\nyears = 2",
                                     "[run]\n[run]", 'x = "unterminated', "a = [1, 2", "[ ]", "a = {b = }"]))
        at = draw(st.integers(0, len(text)))
        data = text[:at] + b"\n" + junk.encode() + b"\n" + text[at:]
    elif kind == "utf16":
        data = _TRUNCATABLE.encode("utf-16")
    else:
        at = draw(st.integers(0, len(text)))
        data = text[:at] + b"\x00" + text[at:]
    # --years/--scale keep any accidentally valid prefix tiny (an empty file is every default)
    return config_case(f"config/bytes-{kind}", data, extra=("--years", "1", "--scale", "0.02"))


TABLE_COLUMNS = ("practice_code", "ccg_code", "ons_ccg_code", "postcode",
                 "registered_patients_2021_01_01", "imd2019_score")
BAD_NUMBERS = ("", "abc", "inf", "-inf", "nan", "NaN", "1e30", "1e12", "-5", "-0", "1.5", "0",
               "9" * 40, "1_000", "0x10", " 12 ", '"1,000"', "1e-300", "٣")


def table_rows(n_groups: int, per_group: int, size: int = 2000, imd: float = 20.0) -> list[list[str]]:
    rows = []
    for g in range(n_groups):
        for i in range(per_group):
            rows.append([f"{chr(65 + g)}{i:05d}", f"0{g}A", f"E3800{g:04d}", f"NE{g + 1} {i}AA",
                         str(size + 100 * i), f"{imd + g + i / 10:.1f}"])
    return rows


def csv_bytes(header: tuple[str, ...] | list[str], rows: list[list[str]], sep: str = ",",
              newline: str = "\n") -> bytes:
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    return (newline.join(lines) + newline).encode("utf-8", errors="surrogateescape")


def table_case(name: str, table: bytes, *, scale: float = 0.2, path: str = "t.csv",
               must_fail: bool = False, table_path: str | None = None) -> Case:
    """``run`` of a tiny scenario whose world is the practice table ``table``."""
    cfg = {"run": {"years": 1},
           "world": {"kind": "table", "table_path": table_path or path, "scale": scale}}
    return Case(name, ("run", "cfg.toml", "--out", "out", "--no-progress"),
                files=(("cfg.toml", toml_document(cfg).encode()), (path, table)),
                outputs=(("out", "run"),), must_fail=must_fail)


@st.composite
def table_cases(draw) -> Case:
    """Practice tables with one or two defects (or none) in a tiny scenario."""
    n_groups = draw(st.integers(1, 3))
    rows = table_rows(n_groups, draw(st.integers(1, 3)), size=draw(st.integers(0, 12000)))
    header = list(TABLE_COLUMNS)
    defects = draw(st.lists(st.sampled_from([
        "empty", "header_only", "drop_column", "rename_column", "bad_size", "bad_imd", "blank_code",
        "duplicate_code", "latin1", "binary", "ragged_long", "ragged_short", "all_zero", "bom",
        "semicolon", "unbalanced_quote", "crlf", "blank_lines",
    ]), min_size=1, max_size=2, unique=True))
    sep, newline, data = ",", "\n", None
    must_fail = False
    for d in defects:
        if d == "drop_column":
            col = draw(st.sampled_from([c for c in TABLE_COLUMNS if c != "ons_ccg_code"]))
            i = header.index(col)
            header.pop(i)
            rows = [r[:i] + r[i + 1:] for r in rows]
            must_fail = True
        elif d == "rename_column":
            i = draw(st.integers(0, len(header) - 1))
            must_fail = must_fail or header[i] != "ons_ccg_code"  # the one column not read
            header[i] = draw(st.sampled_from([header[i].upper(), header[i] + " ", "x"]))
        elif d in ("bad_size", "bad_imd") and rows:
            col = 4 if d == "bad_size" else 5
            r = draw(st.integers(0, len(rows) - 1))
            if col < len(rows[r]):
                rows[r][col] = draw(st.sampled_from(BAD_NUMBERS))
        elif d == "blank_code" and rows:
            rows[draw(st.integers(0, len(rows) - 1))][draw(st.sampled_from([0, 1]))] = ""
            must_fail = True
        elif d == "duplicate_code" and rows:
            rows.append(list(rows[0]))
            must_fail = True
        elif d == "latin1" and rows:
            rows[0][3] = "\udce9"  # a lone latin-1 byte once encoded with surrogateescape
        elif d == "ragged_long" and rows:
            rows[-1] = rows[-1] + ["extra", "more"]
        elif d == "ragged_short" and rows:
            rows[-1] = rows[-1][:2]
        elif d == "all_zero":
            for r in rows:
                if len(r) > 4:
                    r[4] = "0"
        elif d == "semicolon":
            sep = ";"
            must_fail = True
        elif d == "unbalanced_quote" and rows:
            rows[0][3] = '"' + rows[0][3]
        elif d == "crlf":
            newline = "\r\n"
        elif d == "blank_lines":
            rows = [r for row in rows for r in (row, [])]
    text = "\n".join([sep.join(header)] + [sep.join(r) for r in rows]).replace("\n", newline) + newline
    data = text.encode("utf-8", errors="surrogateescape")
    if "bom" in defects:
        data = b"\xef\xbb\xbf" + data
    if "header_only" in defects:
        data = (sep.join(header) + newline).encode()
    if "binary" in defects:
        data = draw(st.binary(min_size=1, max_size=300))
        must_fail = True
    if "empty" in defects:
        data = b""
        must_fail = True
    return table_case("table/" + ("+".join(defects) or "valid"), data, must_fail=must_fail)


TINY_BASE = toml_document(TINY).encode()
VALID_SPEC: dict[str, Any] = {
    "sweep": {"base": "base.toml", "seed": 1, "replications": 1, "sampling": "grid"},
    "axes": {"finance.pace_of_change": [0.3]},
}


def sweep_case(name: str, spec: dict[str, Any] | bytes, *, extra: tuple[str, ...] = (),
               must_fail: bool = False, base: bytes = TINY_BASE) -> Case:
    """``sweep`` of a spec next to a tiny base scenario, into ``store/``."""
    data = spec if isinstance(spec, bytes) else toml_document(spec).encode()
    return Case(name, ("sweep", "spec.toml", "--out", "store", "--no-progress", *extra),
                files=(("base.toml", base), ("spec.toml", data)), outputs=(("store", "sweep"),),
                must_fail=must_fail)


def _spec_with(**tables: dict[str, Any]) -> dict[str, Any]:
    spec = {k: dict(v) for k, v in VALID_SPEC.items()}
    for name, edits in tables.items():
        table = spec.setdefault(name, {})
        for k, v in edits.items():
            if v is _DROP:
                table.pop(k, None)
            else:
                table[k] = v
    return spec


_DROP = object()


@st.composite
def sweep_spec_cases(draw) -> Case:
    """Sweep specs with one refused setting (unknown keys, bad numbers, huge plans, bad axes)."""
    which = draw(st.sampled_from([
        "unknown_table", "unknown_key", "missing", "seed", "replications", "sampling", "samples",
        "num_levels", "axes", "fixed", "outputs", "base",
    ]))
    if which == "unknown_table":
        spec = _spec_with(**{draw(names.filter(lambda n: n not in ("sweep", "axes", "fixed", "outputs"))):
                             {"a": 1}})
    elif which == "unknown_key":
        spec = _spec_with(sweep={draw(names.filter(lambda n: n not in VALID_SPEC["sweep"]
                                                    and n not in ("samples", "num_levels", "description",
                                                                  "common_random_numbers"))): 1})
    elif which == "missing":
        spec = _spec_with(sweep={draw(st.sampled_from(["base", "seed"])): _DROP})
    elif which == "seed":
        spec = _spec_with(sweep={"seed": draw(st.sampled_from(
            [-1, 1.5, "1", True, math.nan, -(2**63), [1], DATE]))})
    elif which == "replications":
        spec = _spec_with(sweep={"replications": draw(st.sampled_from(
            [0, -1, 10**7, 10**18, 2**63 - 1, 1.0, "2", math.inf, False]))})
    elif which == "sampling":
        spec = _spec_with(sweep={"sampling": draw(st.sampled_from(["", "Grid", "random", 1, ["grid"]]))})
    elif which == "samples":
        sampling = draw(st.sampled_from(["grid", "lhs", "sobol", "morris"]))
        samples = draw(st.sampled_from({  # every one refused with that sampling
            "grid": [4, 1], "lhs": [0, -4, 10**9, 1.0, "8"], "sobol": [3, 0, 2**40, 1.0],
            "morris": [0, 10**9, "8", True],
        }[sampling]))
        spec = _spec_with(sweep={"sampling": sampling, "samples": samples},
                          axes={"finance.pace_of_change": {"low": 0.1, "high": 0.9},
                                "finance.budget_pressure": {"low": -0.1, "high": 0.1}})
    elif which == "num_levels":
        spec = _spec_with(sweep={"sampling": "morris", "samples": 2,
                                 "num_levels": draw(st.sampled_from([0, 1, 3, -2, 2.0, "4"]))},
                          axes={"finance.pace_of_change": {"low": 0.1, "high": 0.9},
                                "finance.budget_pressure": {"low": -0.1, "high": 0.1}})
    elif which == "axes":
        name = draw(st.sampled_from(["finance.pace_of_change", "finance.nope", "nope.x", "pace_of_change",
                                     "finance.", ".x", "run.years", "region.target_population"]))
        value = draw(st.sampled_from([
            [], [7.0], [math.nan], [math.inf], [0.1, 0.1], [[0.1]], [{"a": 1}], [True, 0.2], 0.5, "x",
            {"low": 0.1}, {"low": 0.9, "high": 0.1, "num": 3}, {"low": 0.1, "high": 0.9, "num": 1},
            {"low": 0.1, "high": 0.9, "num": 10**9}, {"low": -math.inf, "high": 1.0, "num": 2},
            {"low": 0.1, "high": 0.9, "num": 2, "step": 1}, [10**8], [51],
        ]))
        spec = _spec_with()
        spec["axes"] = {name: value}
    elif which == "fixed":
        spec = _spec_with(fixed={draw(st.sampled_from(["finance.pace_of_change", "finance.nope", "x",
                                                       "run.years"])):
                                 draw(st.sampled_from([7.0, math.nan, [1], {"a": 1}, "x", 10**9]))})
    elif which == "outputs":
        spec = _spec_with(outputs=draw(st.sampled_from([{"keep": ["nope"]}, {"keep": "group_fates"},
                                                        {"other": 1}])))
    else:
        spec = _spec_with(sweep={"base": draw(st.sampled_from(
            ["", "missing.toml", ".", "spec.toml", "/proc/self/status", "/dev/null", 1, ["base.toml"]]))})
    return sweep_case(f"sweep/{which}", spec, must_fail=True)


TOKENS = {
    "number": ["nan", "inf", "-inf", "-1", "0", "1e30", "1e-300", "", " ", "99999999999999999999999",
               "0x10", "1_000", "2.5", "-0", "١"],
    "path": ["", ".", "/", "/proc", "/proc/self/status", "/proc/nope/x", "/dev/null", "cfg.toml",
             "missing/deep/x", "folder", "x" * 300, "/" + "y" * 5000],
    "flag": ["--bogus", "-x", "--", "---out", "--out=", "--seed", "--no-progress=1", "—out", "-h"],
}


# Output targets never name an existing path outside the scratch folder that a write could
# replace (a device under /dev, the root folder): only /proc, which refuses new entries.
OUT_PATHS = [p for p in TOKENS["path"]
             if p not in ("/", "/proc") and (not p.startswith("/") or p.startswith("/proc/"))]
OUT_PATHS += ["/proc/self"]


def _few_workers(text: str) -> bool:
    """False for a --jobs value that would be accepted and start many workers.

    A sweep starts every worker it is allowed at once; a huge accepted --jobs would fork
    that many processes, which no cap on a single child can contain, so such values are left
    out (``-1`` means all cores).
    """
    try:
        return int(text) <= 4
    except ValueError:
        return True


@st.composite
def cli_arg_cases(draw) -> Case:
    """One command with a tiny valid scenario at hand and one or two bad or odd arguments."""
    command = draw(st.sampled_from(["run", "sweep", "analyze", "params", "schedule", "bench", "viz"]))
    files = (("cfg.toml", TINY_BASE), ("base.toml", TINY_BASE),
             ("spec.toml", toml_document(VALID_SPEC).encode()))
    dirs = ("folder",)
    number = st.sampled_from(TOKENS["number"])
    path = st.sampled_from(TOKENS["path"])
    flag = st.sampled_from(TOKENS["flag"])
    if command == "run":
        opt = draw(st.sampled_from(["--seed", "--years", "--scale", "--out", "config", "flag"]))
        args = ["run", "cfg.toml", "--out", "out", "--no-progress"]
        if opt == "--out":  # never "/": a run would write its files there
            args[3] = draw(st.sampled_from(OUT_PATHS))
        elif opt == "config":
            args[1] = draw(path)
        elif opt == "flag":
            args.append(draw(flag))
        else:
            args += [opt, draw(number)]
        outputs: tuple = (("out", "run"),) if args[3] == "out" else ()
    elif command == "sweep":
        opt = draw(st.sampled_from(["--jobs", "--backend", "--out", "spec", "flag"]))
        args = ["sweep", "spec.toml", "--out", "store", "--no-progress"]
        if opt == "--jobs":
            args += ["--jobs", draw(number.filter(_few_workers))]
        elif opt == "--backend":
            args += ["--backend", draw(st.sampled_from(["", "threads", "LOKY", "dask --jobs"]))]
        elif opt == "--out":
            args[3] = draw(st.sampled_from(OUT_PATHS))
        elif opt == "spec":
            args[1] = draw(path)
        else:
            args.append(draw(flag))
        outputs = (("store", "sweep"),) if args[3] == "store" else ()
    elif command == "analyze":
        args = ["analyze", draw(st.one_of(path, st.just("folder")))]
        if draw(st.booleans()):
            args += ["--years", draw(number)]
        outputs = ()
    elif command == "params":
        args = ["params", "--out", draw(st.sampled_from(OUT_PATHS))]
        outputs = ()
    elif command == "schedule":
        args = ["schedule", draw(path)] + ([draw(flag)] if draw(st.booleans()) else [])
        outputs = ()
    elif command == "bench":
        opt = draw(st.sampled_from(["--threads", "--years", "--scale", "--seed", "config"]))
        args = ["bench", "cfg.toml"]
        if opt == "config":
            args[1] = draw(path)
        else:
            args += [opt, draw(number)]
        outputs = ()
    else:  # viz: only inputs it must refuse; a server that starts is reported as a hang
        bad_cfg = draw(st.sampled_from(["missing.toml", "/proc/self/status", "folder", "bad.toml"]))
        port = draw(st.sampled_from(["-1", "65536", "99999999999", "abc", "", "nan", "{busy_port}"]))
        if draw(st.booleans()):
            args = ["viz", bad_cfg, "--port", draw(st.sampled_from(["0", "{busy_port}"]))]
        else:
            args = ["viz", "cfg.toml", "--port", port]
        files = files + (("bad.toml", b"[finance]\npace_of_change = 7\n"),)
        return Case(f"args/{command}", tuple(args), files=files, dirs=dirs, timeout=VIZ_TIMEOUT,
                    must_fail=True)
    return Case(f"args/{command}", tuple(args), files=files, dirs=dirs, outputs=outputs)


def any_case() -> st.SearchStrategy[Case]:
    """Every kind of input."""
    return st.one_of(config_value_cases(), config_bytes_cases(), table_cases(), sweep_spec_cases(),
                     cli_arg_cases())


# --------------------------------------------------------------------------------------------
# A finished sweep store (for ``analyze`` and resume cases)
# --------------------------------------------------------------------------------------------

STORE_SPEC: dict[str, Any] = {
    "sweep": {"base": "base.toml", "seed": 7, "replications": 1, "sampling": "grid"},
    "axes": {"finance.pace_of_change": [0.1, 0.5], "finance.budget_pressure": [0.0, 0.05]},
}


def build_store(dest: Path, timeout: float = 300.0) -> Path:
    """Run the tiny ``STORE_SPEC`` sweep (4 one-year runs) into ``dest/store``; return it.

    Raises ``RuntimeError`` with the command's stderr when the sweep does not finish cleanly.
    """
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "base.toml").write_bytes(TINY_BASE)
    (dest / "spec.toml").write_text(toml_document(STORE_SPEC))
    rc, _, err, timed_out = _execute(
        [sys.executable, "-m", "ccgabm", "sweep", "spec.toml", "--out", "store", "--jobs", "2",
         "--no-progress"], dest, timeout)
    if rc != 0 or not (dest / "store" / "manifest.json").is_file():
        raise RuntimeError(f"building the sweep store failed (exit {rc}, timed out {timed_out}): "
                           f"{err.strip()[-800:]}")
    return dest / "store"


# --------------------------------------------------------------------------------------------
# The named catalogue
# --------------------------------------------------------------------------------------------


def _run_args(config: str = "cfg.toml", out: str = "out", *extra: str) -> tuple[str, ...]:
    return ("run", config, "--out", out, "--no-progress", *extra)


def _tiny_files(*more: tuple[str, bytes]) -> tuple[tuple[str, bytes], ...]:
    return (("cfg.toml", TINY_BASE), *more)


def _config_byte_cases() -> list[Case]:
    text = _TRUNCATABLE.encode()
    safe = ("--years", "1", "--scale", "0.02")
    raw = {
        "empty": b"",
        "crlf": TINY_BASE.replace(b"\n", b"\r\n"),
        "utf8-bom": b"\xef\xbb\xbf" + TINY_BASE,
        "utf16": _TRUNCATABLE.encode("utf-16"),
        "latin1-comment": b"# caf\xe9\n" + TINY_BASE,
        "latin1-string": TINY_BASE + b'[world]\ntable_path = "caf\xe9.csv"\n',
        "nul-byte": TINY_BASE[:10] + b"\x00" + TINY_BASE[10:],
        "all-bytes": bytes(range(256)),
        "deep-array": b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "deep-inline-table": b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000 + b"\n",
        "huge-int-literal": b"[run]\nyears = 1" + b"0" * 5000 + b"\n",
        "float-overflow": TINY_BASE + b"[finance]\npace_of_change = 1e999\n",
        "hex-int": TINY_BASE + b"[policy]\nforecast_month = 0x5\n",
        "long-key": TINY_BASE + b"[finance]\n" + b"k" * 100_000 + b" = 1\n",
        "big-comment-file": b"# " + b"x" * 78 + b"\n" * 1 + (b"#" * 79 + b"\n") * 60_000 + TINY_BASE,
        "dotted-top-level": b"run.years = 1\nregion.n_groups = 2\nregion.practices_per_group = 3\n"
                            b"region.target_population = 6000\n",
        "nested-table": TINY_BASE + b"[run.sub]\nx = 1\n",
        "array-of-tables": b"[[run]]\nyears = 1\n",
        "section-is-int": b"run = 5\n",
        "duplicate-key": b"[run]\nyears = 1\nyears = 2\n",
        "duplicate-table": b"[run]\nyears = 1\n[run]\nseed = 2\n",
        "unterminated-table": b"[run\nyears = 1\n",
        "unterminated-string": b'[world]\nkind = "region\n',
        "date-for-years": b"[run]\nyears = 1979-05-27\n",
    }
    cases = []
    for name, data in raw.items():
        # --years/--scale keep a file that turns out valid (an empty one: every default) tiny
        valid = name in ("empty", "whitespace", "comments-only", "crlf", "hex-int", "dotted-top-level",
                         "big-comment-file")
        cases.append(config_case(f"config-bytes/{name}", data, extra=safe,
                                 must_fail=not valid and name != "utf8-bom"))
    for cut in (1, len(text) // 3, len(text) - 3):
        cases.append(config_case(f"config-bytes/truncated-at-{cut}", text[:cut], extra=safe))
    cases.append(config_case("config-bytes/random-1k", _fixed_bytes(1024, 1), extra=safe,
                             must_fail=True))
    return cases


def _fixed_bytes(n: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(n)


def _refused_field_cases() -> list[Case]:
    """A refused value for every third declared parameter, the kinds of refusal taken in turn."""
    cases = []
    for i, p in enumerate(_params()):
        if i % 3:  # every third parameter: the refusals go through one generic check
            continue
        choices = refused_values(p)
        what, value = choices[(i // 3) % len(choices)]
        cases.append(edits_case(f"config-refused/{p.dotted}/{what}", {p.dotted: value}, must_fail=True))
    # the refusals of an int field that the turns above give only to float fields
    for what, value in refused_values(next(q for q in _params() if q.dotted == "region.n_groups")):
        if what in ("fraction for int", "huge int", "below int64", "NaN", "+inf"):
            cases.append(edits_case(f"config-refused/region.n_groups/{what}", {"region.n_groups": value},
                                    must_fail=True))
    cases += [
        edits_case("config-refused/unknown-section", {"nosuch.key": 1}, must_fail=True),
        edits_case("config-refused/unknown-key", {"finance.pace_of_chnage": 0.3}, must_fail=True),
        edits_case("config-refused/section-case", {"Finance.pace_of_change": 0.3}, must_fail=True),
        edits_case("config-refused/key-case", {"finance.Pace_Of_Change": 0.3}, must_fail=True),
        edits_case("config-refused/key-with-space", {"finance.pace_of_change ": 0.3}, must_fail=True),
        edits_case("config-refused/dunder-key", {"run.__class__": 1}, must_fail=True),
        edits_case("config-refused/base_dir-section", {"base_dir.x": 1}, must_fail=True),
    ]
    for name, path in (("no-path", ""), ("dir", "."), ("proc", "/proc/self/status"), ("devnull", "/dev/null"),
                       ("long", "x" * 5000)):
        cases.append(edits_case(f"config-refused/world-table-path-{name}",
                                {"world.kind": "table", "world.table_path": path}, must_fail=True,
                                command="run"))
    return cases


def _section_extremes(section: str, which: int) -> dict[str, Any]:
    edits = {}
    for p in _params():
        if p.section != section or p.dotted in SPECIAL:
            continue
        values = extreme_values(p)
        edits[p.dotted] = values[min(which, len(values) - 1)] if p.kind != "bool" else (which == 0)
    return edits


def _extreme_run_cases() -> list[Case]:
    """Allowed values at the edges of every section's ranges: real tiny runs."""
    cases = []
    for section in sorted({p.section for p in _params()}):
        for which, label in ((0, "lo"), (1, "hi")):
            edits = _section_extremes(section, which)
            if section == "england":
                edits.update({"world.kind": "england", "world.scale": 0.05,
                              "england.n_practices": 12 if which else 1})
                cases.append(edits_case(f"config-extreme/{section}-{label}", edits, command="run"))
                continue
            for dotted, limit in SIZE_LIMITS.items():  # sizes stay tiny here; see the size cases
                if dotted in edits and not isinstance(edits[dotted], bool) and edits[dotted] > limit:
                    edits[dotted] = limit
            if section == "region" and which == 0:
                edits["region.target_population"] = 0  # the sampled list sizes, log mean 4
            cases.append(edits_case(f"config-extreme/{section}-{label}", edits, command="run"))
    for choice in extreme_values(next(p for p in _params() if p.dotted == "dilemma.choice")):
        cases.append(edits_case(f"config-extreme/dilemma-{choice}",
                                {"dilemma.choice": choice, "dilemma.decision_year": 0}, command="run"))
    edge = {
        "one-patient": {"region.n_groups": 1, "region.practices_per_group": 1,
                        "region.target_population": 1},
        "scale-lo": {"world.scale": 1e-5},
        "everyone-dies": {"population.mortality_log_intercept": 0.0,
                          "population.mortality_log_slope": 0.3},
        "no-inflow": {"population.birth_rate": 0.0, "population.in_registration_rate": 0.0},
        "free-care-no-money": {"finance.allocation_per_head": 0.0, "costs.elective_inpatient": 0.0,
                               "costs.day_case": 0.0, "costs.non_elective": 0.0, "costs.outpatient": 0.0},
        "dear-care": {"costs.elective_inpatient": 1e5, "costs.non_elective": 1e5,
                      "finance.allocation_per_head": 0.0, "finance.budget_pressure": 0.5},
        "every-group-too-small": {"behaviour.min_group_population": 10_000_000},
        "all-practices-close": {"behaviour.closure_rate": 1.0, "behaviour.closure_list_size": 100_000,
                                "behaviour.closure_imd": 0.0},
        "many-groups-one-practice": {"region.n_groups": 12, "region.practices_per_group": 1},
        "more-hospitals-than-practices": {"region.n_hospitals": 50},
        "no-capacity": {"hospital.capacity_ratio": 0.1, "referral.need_rate": 1.0,
                        "referral.refer_probability": 1.0},
        "certain-emergencies": {"emergency.base_rate": 1.0, "emergency.age_slope": 0.2},
        "three-years": {"run.years": 3, "region.target_population": 2000},
        "seed-max": {"run.seed": 2**63 - 1},
        "forecast-month-lo-hi": {"policy.forecast_month": 11, "behaviour.running_cost_cut_year": 0},
        "headroom-0-sd-0": {"world.headroom": 0.0, "region.list_size_log_sd": 0.0,
                            "region.imd_sd_within_group": 0.0, "population.patient_imd_sd": 0.0},
    }
    for name, edits in edge.items():
        cases.append(edits_case(f"config-extreme/{name}", edits, command="run"))
    # sizes: allowed by the declared ranges but far beyond the machine; refusal must be instant.
    # (The largest population the ranges allow, 100 million patients for 50 years, is not one:
    # it fits in about 3.4 GiB and runs in minutes, so it is only validated, below.)
    cases += [
        edits_case("config-size/150k-practices",
                   {"region.n_groups": 300, "region.practices_per_group": 500}, command="run"),
        edits_case("config-size/england-hi-scale-1",
                   {"world.kind": "england", "england.n_practices": 20000, "world.scale": 1.0},
                   command="run"),
        edits_case("config-size/sampled-lists-log-mean-12",
                   {"region.target_population": 0, "region.list_size_log_mean": 12.0,
                    "region.list_size_log_sd": 2.0, "region.n_groups": 300,
                    "region.practices_per_group": 500}, command="run"),
        # the same sizes only validated: the ranges allow them
        edits_case("config-size/validate-population-1e8",
                   {"region.target_population": 100_000_000, "run.years": 50}, command="schedule"),
    ]
    return cases


def _table_catalogue() -> list[Case]:
    header = TABLE_COLUMNS
    rows = table_rows(2, 3)
    good = csv_bytes(header, rows)

    def with_cell(col: int, value: str, row: int = 0) -> bytes:
        changed = [list(r) for r in rows]
        changed[row][col] = value
        return csv_bytes(header, changed)

    cases = [
        table_case("table/valid", good),
        table_case("table/valid-imd-missing", with_cell(5, "")),
        table_case("table/valid-crlf-bom", b"\xef\xbb\xbf" + csv_bytes(header, rows, newline="\r\n")),
        table_case("table/empty", b"", must_fail=True),
        table_case("table/header-only", csv_bytes(header, [])),
        table_case("table/binary", _fixed_bytes(512, 2), must_fail=True),
        table_case("table/non-utf8-postcode", with_cell(3, "CAF\udce9 1")),  # a lone 0xe9 byte
        table_case("table/latin1-file", csv_bytes(header, rows).replace(b"NE1", b"N\xc9")),
        table_case("table/utf16", ("\n".join(",".join(r) for r in [list(header), *rows]) + "\n")
                   .encode("utf-16")),
        table_case("table/duplicate-code", csv_bytes(header, rows + [rows[0]]), must_fail=True),
        table_case("table/blank-code", with_cell(0, ""), must_fail=True),
        table_case("table/blank-postcode", with_cell(3, "")),
        table_case("table/all-zero", csv_bytes(header, [r[:4] + ["0", r[5]] for r in rows])),
        table_case("table/all-imd-missing", csv_bytes(header, [r[:5] + [""] for r in rows])),
        table_case("table/ragged-long", csv_bytes(header, rows[:-1] + [rows[-1] + ["x", "y"]])),
        table_case("table/ragged-short", csv_bytes(header, rows[:-1] + [rows[-1][:2]])),
        table_case("table/semicolons", csv_bytes(header, rows, sep=";"), must_fail=True),
        table_case("table/unbalanced-quote", with_cell(3, '"NE1 0AA')),
        table_case("table/huge-cell", with_cell(3, "P" * 100_000)),
        table_case("table/many-columns", csv_bytes(list(header) + [f"c{i}" for i in range(2000)],
                                                   [r + ["0"] * 2000 for r in rows])),
        table_case("table/path-missing", good, table_path="nope.csv", must_fail=True),
        table_case("table/path-dir", good, table_path=".", must_fail=True),
        table_case("table/path-proc", good, table_path="/proc/self/status", must_fail=True),
        table_case("table/path-devnull", good, table_path="/dev/null", must_fail=True),
        table_case("table/path-empty", good, table_path="", must_fail=True),
    ]
    for col in ("practice_code", "ccg_code", "postcode", "registered_patients_2021_01_01",
                "imd2019_score"):
        i = header.index(col)
        cases.append(table_case(f"table/missing-column-{col}",
                                csv_bytes(header[:i] + header[i + 1:], [r[:i] + r[i + 1:] for r in rows]),
                                must_fail=True))
    cases.append(table_case("table/upper-case-header", csv_bytes([h.upper() for h in header], rows),
                            must_fail=True))
    for value in ("", "abc", "inf", "nan", "1e30", "1e12", "-5", "1.5", "9" * 40, "٣"):
        cases.append(table_case(f"table/list-size-{value[:12]!r}", with_cell(4, value)))
    for value in ("abc", "inf", "nan", "-5", "1e308"):
        cases.append(table_case(f"table/imd-{value!r}", with_cell(5, value)))
    if SHARED_TABLE.is_file():
        cfg = {"run": {"years": 1}, "world": {"kind": "table", "table_path": "{table}", "scale": 0.0005}}
        text = toml_document(cfg).replace("{table}", str(SHARED_TABLE)).encode()
        cases.append(config_case("table/shared-england-tiny-scale", text))
    return cases


def _sweep_catalogue() -> list[Case]:
    store_spec = toml_document(STORE_SPEC).encode()
    spec2 = _spec_with(sweep={"replications": 2})
    cases = [
        sweep_case("sweep/valid-one-run", VALID_SPEC),
        sweep_case("sweep/valid-two-reps-two-jobs", spec2, extra=("--jobs", "2")),
        sweep_case("sweep/valid-lhs", _spec_with(sweep={"sampling": "lhs", "samples": 2},
                                                 axes={"finance.pace_of_change": {"low": 0.1, "high": 0.9}})),
        Case("sweep/resume-finished-store", ("sweep", "spec.toml", "--out", "store", "--no-progress"),
             files=(("base.toml", TINY_BASE), ("spec.toml", store_spec)), store="store",
             outputs=(("store", "sweep"),)),
        Case("sweep/other-spec-into-store", ("sweep", "spec.toml", "--out", "store", "--no-progress"),
             files=(("base.toml", TINY_BASE), ("spec.toml", toml_document(VALID_SPEC).encode())),
             store="store", must_fail=True),
        Case("sweep/overwrite-store", ("sweep", "spec.toml", "--out", "store", "--no-progress",
                                       "--overwrite"),
             files=(("base.toml", TINY_BASE), ("spec.toml", toml_document(VALID_SPEC).encode())),
             store="store", outputs=(("store", "sweep"),)),
        Case("sweep/overwrite-foreign-folder", ("sweep", "spec.toml", "--out", "folder", "--no-progress",
                                                "--overwrite"),
             files=(("base.toml", TINY_BASE), ("spec.toml", toml_document(VALID_SPEC).encode()),
                    ("folder/notes.txt", b"keep me\n")), must_fail=True),
        Case("sweep/corrupt-manifest-in-store", ("sweep", "spec.toml", "--out", "store", "--no-progress"),
             files=(("base.toml", TINY_BASE), ("spec.toml", store_spec),
                    ("store/manifest.json", b'{"points": [')), store="store"),
        Case("sweep/out-is-file", ("sweep", "spec.toml", "--out", "base.toml", "--no-progress"),
            files=(("base.toml", TINY_BASE), ("spec.toml", toml_document(VALID_SPEC).encode())),
            must_fail=True),
        sweep_case("sweep/spec-binary", _fixed_bytes(300, 3), must_fail=True),
        sweep_case("sweep/spec-non-utf8", b"# \xff\n" + toml_document(VALID_SPEC).encode(), must_fail=True),
        sweep_case("sweep/spec-empty", b"", must_fail=True),
        sweep_case("sweep/base-binary", VALID_SPEC, base=_fixed_bytes(200, 4), must_fail=True),
        sweep_case("sweep/base-refused-value", VALID_SPEC,
                   base=TINY_BASE + b"[finance]\npace_of_change = 7\n", must_fail=True),
        sweep_case("sweep/huge-replications", _spec_with(sweep={"replications": 10**18}), must_fail=True),
        sweep_case("sweep/huge-grid", _spec_with(axes={"finance.pace_of_change":
                                                       {"low": 0.0, "high": 1.0, "num": 10**9}}),
                   must_fail=True),
        sweep_case("sweep/huge-grid-3-axes", {**VALID_SPEC, "axes": {
            "finance.pace_of_change": {"low": 0.0, "high": 1.0, "num": 10**6},
            "finance.budget_pressure": {"low": -0.5, "high": 0.5, "num": 10**6},
            "hospital.capacity_ratio": {"low": 0.1, "high": 5.0, "num": 10**6}}}, must_fail=True),
        sweep_case("sweep/huge-sobol", _spec_with(
            sweep={"sampling": "sobol", "samples": 2**40},
            axes={"finance.pace_of_change": {"low": 0.1, "high": 0.9},
                  "finance.budget_pressure": {"low": -0.1, "high": 0.1}}), must_fail=True),
        sweep_case("sweep/force-absurd-plan", _spec_with(sweep={"replications": 10**15}),
                   extra=("--force",)),
        sweep_case("sweep/jobs-0", VALID_SPEC, extra=("--jobs", "0"), must_fail=True),
        sweep_case("sweep/jobs-minus-2", VALID_SPEC, extra=("--jobs", "-2"), must_fail=True),
        sweep_case("sweep/jobs-nan", VALID_SPEC, extra=("--jobs", "nan"), must_fail=True),
        sweep_case("sweep/jobs-1e30", VALID_SPEC, extra=("--jobs", "1e30"), must_fail=True),
        sweep_case("sweep/backend-bogus", VALID_SPEC, extra=("--backend", "threads"), must_fail=True),
        sweep_case("sweep/scheduler-with-loky", VALID_SPEC, extra=("--scheduler", "tcp://127.0.0.1:1"),
                   must_fail=True),
        sweep_case("sweep/dask-unreachable-scheduler", VALID_SPEC,
                   extra=("--backend", "dask", "--scheduler", "tcp://127.0.0.1:1"), must_fail=True),
        Case("sweep/spec-missing", ("sweep", "nope.toml", "--out", "store"), must_fail=True),
        Case("sweep/spec-is-dir", ("sweep", "folder", "--out", "store"), dirs=("folder",), must_fail=True),
        Case("sweep/spec-proc", ("sweep", "/proc/self/status", "--out", "store"), must_fail=True),
        Case("sweep/out-proc", ("sweep", "spec.toml", "--out", "/proc/self/nope", "--no-progress"),
             files=(("base.toml", TINY_BASE), ("spec.toml", toml_document(VALID_SPEC).encode())),
             must_fail=True),
    ]
    # every refusal branch of the spec, once each, with fixed draws
    bad = {
        "unknown-table": _spec_with(extra={"a": 1}),
        "unknown-key": _spec_with(sweep={"replication": 2}),
        "no-base": _spec_with(sweep={"base": _DROP}),
        "no-axes": {"sweep": VALID_SPEC["sweep"]},
        "empty-axes": {"sweep": VALID_SPEC["sweep"], "axes": {}},
        "sweep-not-table": {"sweep": 1, "axes": VALID_SPEC["axes"]},
        "seed-negative": _spec_with(sweep={"seed": -1}),
        "seed-float": _spec_with(sweep={"seed": 1.5}),
        "replications-0": _spec_with(sweep={"replications": 0}),
        "replications-inf": _spec_with(sweep={"replications": math.inf}),
        "sampling-bogus": _spec_with(sweep={"sampling": "random"}),
        "sobol-not-power-of-two": _spec_with(
            sweep={"sampling": "sobol", "samples": 3},
            axes={"finance.pace_of_change": {"low": 0.1, "high": 0.9},
                  "finance.budget_pressure": {"low": -0.1, "high": 0.1}}),
        "morris-odd-levels": _spec_with(
            sweep={"sampling": "morris", "samples": 2, "num_levels": 3},
            axes={"finance.pace_of_change": {"low": 0.1, "high": 0.9},
                  "finance.budget_pressure": {"low": -0.1, "high": 0.1}}),
        "axis-unknown-parameter": _spec_with(axes={"finance.nope": [1.0]}),
        "axis-not-dotted": _spec_with(axes={"pace_of_change": [0.3]}),
        "axis-out-of-range": _spec_with(axes={"finance.pace_of_change": [7.0]}),
        "axis-nan": _spec_with(axes={"finance.pace_of_change": [math.nan]}),
        "axis-repeats": _spec_with(axes={"finance.pace_of_change": [0.1, 0.1]}),
        "axis-num-1": _spec_with(axes={"finance.pace_of_change": {"low": 0.1, "high": 0.9, "num": 1}}),
        "axis-years-too-long": _spec_with(axes={"run.years": [51]}),
        "axis-wrong-type": _spec_with(axes={"run.years": [1.5]}),
        "axis-choice-bogus": _spec_with(axes={"dilemma.choice": ["stay", "bogus"]}),
        "fixed-out-of-range": _spec_with(fixed={"finance.pace_of_change": 7.0}),
        "fixed-also-axis": _spec_with(fixed={"finance.pace_of_change": 0.2}),
        "outputs-unknown": _spec_with(outputs={"keep": ["nope"]}),
        "base-missing": _spec_with(sweep={"base": "missing.toml"}),
        "base-dir": _spec_with(sweep={"base": "."}),
        "base-devnull": _spec_with(sweep={"base": "/dev/null"}),
    }
    for name, spec in bad.items():
        cases.append(sweep_case(f"sweep/{name}", spec, must_fail=True))
    return cases


def _analyze_catalogue() -> list[Case]:
    def on_store(name: str, *extra: str, files: tuple = (), must_fail: bool = False,
                 ok: bool = False) -> Case:
        return Case(f"analyze/{name}", ("analyze", "store", *extra), files=files, store="store",
                    outputs=(("store", "analysis"),) if ok else (), must_fail=must_fail)

    return [
        on_store("store", ok=True),
        on_store("years-half", "--years", "0.5", ok=True),
        on_store("years-many", "--years", *[str(y) for y in range(1, 41)], ok=True),
        on_store("years-nan", "--years", "nan", must_fail=True),
        on_store("years-inf", "--years", "inf"),
        on_store("years-negative", "--years", "-1", must_fail=True),
        on_store("years-zero", "--years", "0", must_fail=True),
        on_store("years-1e308", "--years", "1e308"),
        on_store("heatmap-unknown-axes", "--heatmap-axes", "a.b", "c.d", must_fail=True),
        on_store("heatmap-same-axis", "--heatmap-axes", "finance.pace_of_change",
                 "finance.pace_of_change", must_fail=True),
        on_store("manifest-binary", files=(("store/manifest.json", _fixed_bytes(100, 5)),),
                 must_fail=True),
        on_store("manifest-truncated", files=(("store/manifest.json", b'{"points": [{"point_id"'),),
                 must_fail=True),
        on_store("manifest-nan", files=(("store/manifest.json",
                                         b'{"points": NaN, "replications": 1, "seed": 1}'),),
                 must_fail=True),
        on_store("points-garbage", files=(("store/points.parquet", b"PAR1 not really"),), must_fail=True),
        Case("analyze/empty-folder", ("analyze", "folder"), dirs=("folder",), must_fail=True),
        Case("analyze/missing", ("analyze", "nope"), must_fail=True),
        Case("analyze/file", ("analyze", "cfg.toml"), files=_tiny_files(), must_fail=True),
        Case("analyze/proc", ("analyze", "/proc"), must_fail=True),
    ]


def _command_catalogue() -> list[Case]:
    tiny = _tiny_files()
    bad_cfg = (("bad.toml", b"[finance]\npace_of_change = 7\n"),)
    viz = lambda name, *args, files=tiny: Case(  # noqa: E731
        f"viz/{name}", ("viz", *args), files=files, timeout=VIZ_TIMEOUT, must_fail=True)
    cases = [
        # run: options
        Case("run/seed-negative", _run_args("cfg.toml", "out", "--seed", "-1"), files=tiny, must_fail=True),
        Case("run/seed-huge", _run_args("cfg.toml", "out", "--seed", "9" * 5000), files=tiny, must_fail=True),
        Case("run/seed-max", _run_args("cfg.toml", "out", "--seed", str(2**63 - 1)), files=tiny,
             outputs=(("out", "run"),)),
        Case("run/years-0", _run_args("cfg.toml", "out", "--years", "0"), files=tiny, must_fail=True),
        Case("run/years-51", _run_args("cfg.toml", "out", "--years", "51"), files=tiny, must_fail=True),
        Case("run/years-1e30", _run_args("cfg.toml", "out", "--years", "1e30"), files=tiny, must_fail=True),
        Case("run/scale-0", _run_args("cfg.toml", "out", "--scale", "0"), files=tiny, must_fail=True),
        Case("run/scale-nan", _run_args("cfg.toml", "out", "--scale", "nan"), files=tiny, must_fail=True),
        Case("run/scale-inf", _run_args("cfg.toml", "out", "--scale", "inf"), files=tiny, must_fail=True),
        Case("run/scale-1e-300", _run_args("cfg.toml", "out", "--scale", "1e-300"), files=tiny,
             must_fail=True),
        Case("run/scale-lo", _run_args("cfg.toml", "out", "--scale", "1e-5"), files=tiny,
             outputs=(("out", "run"),)),
        Case("run/unknown-flag", _run_args("cfg.toml", "out", "--bogus"), files=tiny, must_fail=True),
        Case("run/no-out", ("run", "cfg.toml"), files=tiny, must_fail=True),
        Case("run/no-config", ("run",), must_fail=True),
        Case("run/out-twice", _run_args("cfg.toml", "a", "--out", "out"), files=tiny,
             outputs=(("out", "run"),)),
        Case("run/out-is-config", _run_args("cfg.toml", "cfg.toml"), files=tiny, must_fail=True),
        Case("run/out-in-proc", _run_args("cfg.toml", "/proc/self/fuzz"), files=tiny, must_fail=True),
        Case("run/out-under-file", _run_args("cfg.toml", "cfg.toml/out"), files=tiny, must_fail=True),
        Case("run/out-name-too-long", _run_args("cfg.toml", "o" * 300), files=tiny, must_fail=True),
        Case("run/out-nested-new", _run_args("cfg.toml", "a/b/c/out"), files=tiny,
             outputs=(("a/b/c/out", "run"),)),
        Case("run/out-existing-with-files", _run_args(), files=_tiny_files(("out/notes.txt", b"mine\n")),
             outputs=(("out", "run"),)),
        Case("run/out-hidden-partial-name", _run_args("cfg.toml", ".x-partial-out"), files=tiny,
             outputs=(("./.x-partial-out", "run"),)),
        Case("run/config-empty-string", _run_args(""), must_fail=True),
        Case("run/config-dir", _run_args("folder"), dirs=("folder",), must_fail=True),
        Case("run/config-proc-status", _run_args("/proc/self/status"), must_fail=True),
        Case("run/config-proc-mem", _run_args("/proc/self/mem"), must_fail=True),
        Case("run/config-devnull", _run_args("/dev/null"), must_fail=True),
        Case("run/config-devzero", _run_args("/dev/zero"), must_fail=True),
        Case("run/config-name-too-long", _run_args("c" * 300 + ".toml"), must_fail=True),
        Case("run/config-path-too-long", _run_args("/" + "d" * 5000), must_fail=True),
        Case("run/config-missing", _run_args("missing.toml"), must_fail=True),
        # params and schedule
        Case("params/stdout", ("params",)),
        Case("params/out-file", ("params", "--out", "p.md"), outputs=(("p.md", "file"),)),
        Case("params/out-existing-file", ("params", "--out", "cfg.toml"), files=tiny,
             outputs=(("cfg.toml", "file"),)),
        Case("params/out-dir", ("params", "--out", "folder"), dirs=("folder",), must_fail=True),
        Case("params/out-proc", ("params", "--out", "/proc/self/status"), must_fail=True),
        Case("params/out-missing-parent", ("params", "--out", "missing/deep/p.md")),
        Case("params/out-name-too-long", ("params", "--out", "p" * 300), must_fail=True),
        Case("schedule/default", ("schedule",)),
        Case("schedule/markdown", ("schedule", "--markdown")),
        Case("schedule/tiny", ("schedule", "cfg.toml"), files=tiny),
        Case("schedule/missing", ("schedule", "missing.toml"), must_fail=True),
        Case("schedule/dir", ("schedule", "folder"), dirs=("folder",), must_fail=True),
        Case("schedule/binary", ("schedule", "b.toml"), files=(("b.toml", _fixed_bytes(64, 6)),),
             must_fail=True),
        Case("schedule/proc-mem", ("schedule", "/proc/self/mem"), must_fail=True),
        Case("schedule/refused", ("schedule", "bad.toml"), files=bad_cfg, must_fail=True),
        # bench
        Case("bench/tiny", ("bench", "cfg.toml"), files=tiny),
        Case("bench/tiny-json", ("bench", "cfg.toml", "--json", "b.json"), files=tiny,
             outputs=(("b.json", "json"),)),
        Case("bench/default-config-missing", ("bench",), must_fail=True),
        Case("bench/threads-0", ("bench", "cfg.toml", "--threads", "0"), files=tiny, must_fail=True),
        Case("bench/threads-negative", ("bench", "cfg.toml", "--threads", "-1"), files=tiny, must_fail=True),
        Case("bench/threads-huge", ("bench", "cfg.toml", "--threads", "1000000"), files=tiny,
             must_fail=True),
        Case("bench/years-0", ("bench", "cfg.toml", "--years", "0"), files=tiny, must_fail=True),
        Case("bench/scale-nan", ("bench", "cfg.toml", "--scale", "nan"), files=tiny, must_fail=True),
        Case("bench/json-dir", ("bench", "cfg.toml", "--json", "folder"), files=tiny, dirs=("folder",),
             must_fail=True),
        Case("bench/json-proc", ("bench", "cfg.toml", "--json", "/proc/self/status"), files=tiny,
             must_fail=True),
        Case("bench/refused-config", ("bench", "bad.toml"), files=bad_cfg, must_fail=True),
        # viz: only inputs it must refuse before serving
        viz("port-negative", "cfg.toml", "--port", "-1"),
        viz("port-65536", "cfg.toml", "--port", "65536"),
        viz("port-huge", "cfg.toml", "--port", "99999999999"),
        viz("port-text", "cfg.toml", "--port", "abc"),
        viz("port-empty", "cfg.toml", "--port", ""),
        viz("port-busy", "cfg.toml", "--port", "{busy_port}"),
        viz("host-invalid", "cfg.toml", "--host", "256.1.1.1", "--port", "0"),
        viz("host-garbage", "cfg.toml", "--host", "bad host!", "--port", "0"),
        viz("config-missing", "missing.toml", "--port", "0"),
        viz("config-refused", "bad.toml", "--port", "0", files=bad_cfg),
        viz("config-binary", "b.toml", "--port", "0", files=(("b.toml", _fixed_bytes(64, 7)),)),
        viz("config-dir", ".", "--port", "0"),
        viz("config-proc", "/proc/self/status", "--port", "0"),
        # the top level
        Case("top/no-arguments", (), must_fail=True),
        Case("top/unknown-command", ("frobnicate",), must_fail=True),
        Case("top/help", ("--help",)),
        Case("top/run-help", ("run", "--help")),
        Case("top/empty-command", ("",), must_fail=True),
        Case("top/unicode-flag", ("run", "cfg.toml", "\u2014out", "o"), files=tiny, must_fail=True),
    ]
    return cases


def catalogue() -> list[Case]:
    """The fixed, named catalogue: every command and every input kind (distinct inputs)."""
    cases = (_config_byte_cases() + _refused_field_cases() + _extreme_run_cases() + _table_catalogue()
             + _sweep_catalogue() + _analyze_catalogue() + _command_catalogue())
    return unique(cases)


def unique(cases: list[Case]) -> list[Case]:
    """The cases with distinct inputs, first name kept."""
    seen: set = set()
    out = []
    for case in cases:
        if case.key not in seen:
            seen.add(case.key)
            out.append(case)
    return out


def drawn(strategy: st.SearchStrategy[Case], n: int, seed: int) -> list[Case]:
    """``n`` cases drawn from ``strategy`` with a fixed seed (the same on every call)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seed_

    out: list[Case] = []

    @seed_(seed)
    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case: Case) -> None:
        out.append(case)

    collect()
    return out
