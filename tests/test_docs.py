"""The documentation cannot rot: names in docs/odd.md resolve, and docs/guide.md's examples run.

* Every backticked dotted path ``ccgabm.x.y`` in the docs must import (module, then attribute
  chain); every backticked ``section.key`` whose first part is a config section must be a
  parameter of that section.
* docs/odd.md section 3 is the generated schedule, and every registered behaviour is described.
* Every ```bash and ```python block of docs/guide.md runs, in order, in one scratch folder
  where ``configs`` links to the repository's. A block preceded by ``<!-- not-run: why -->`` is
  skipped; ``<!-- needs: shared-data -->`` skips it when ../shared/data is absent;
  ``<!-- file: PATH -->`` writes it to PATH in a scratch copy of the package (symlinks to the
  repository's files) and ``<!-- register -->`` adds its lines to ``REGISTERED`` there; blocks
  after the first of these run against that copy, in subprocesses.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import ROOT, SHARED_TABLE

from ccgabm.config import SECTIONS

DOCS = ROOT / "docs"
ODD = DOCS / "odd.md"
GUIDE = DOCS / "guide.md"
README = ROOT / "README.md"

CODE_REF = re.compile(r"`(ccgabm(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`")
PARAM_REF = re.compile(r"`([a-z_]+)\.([a-z_0-9]+)`")
FENCE = re.compile(r"^```(\w*)\s*$")
MARK = re.compile(r"^<!--\s*(not-run|needs|file|register)\s*:?\s*(.*?)\s*-->$")
FILE_SUFFIXES = {"toml", "csv", "md", "py", "png", "json", "parquet", "sh"}  # `dilemma.toml`
BLOCK_TIMEOUT_S = 240


# ---- names -------------------------------------------------------------------------------
def resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted`` and follow the rest as attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
                continue  # this prefix is not a module: try a shorter one
            raise
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def code_refs(path: Path) -> list[str]:
    return sorted(set(CODE_REF.findall(path.read_text())))


def missing_names(path: Path) -> list[str]:
    missing = []
    for ref in code_refs(path):
        try:
            resolve(ref)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{ref} ({type(exc).__name__}: {exc})")
    return missing


def test_odd_names_the_functions_that_implement_it():
    refs = code_refs(ODD)
    assert len(refs) > 80, "docs/odd.md should name the implementing functions"
    missing = missing_names(ODD)
    assert not missing, "docs/odd.md names code that no longer exists:\n  " + "\n  ".join(missing)


@pytest.mark.parametrize("doc", [GUIDE, README], ids=lambda p: p.name)
def test_other_docs_name_existing_code(doc):
    missing = missing_names(doc)
    assert not missing, f"{doc.name} names code that no longer exists:\n  " + "\n  ".join(missing)


@pytest.mark.parametrize("doc", [ODD, GUIDE], ids=lambda p: p.name)
def test_docs_name_existing_parameters(doc):
    known = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in SECTIONS.items()}
    refs = {(s, k) for s, k in PARAM_REF.findall(doc.read_text()) if s in known and k not in FILE_SUFFIXES}
    assert refs, f"{doc.name} names no parameters"
    bad = sorted(f"{s}.{k}" for s, k in refs if k not in known[s])
    assert not bad, f"{doc.name} names parameters that do not exist: {bad}"


def test_odd_schedule_section_is_generated():
    from ccgabm.schedule import with_schedule

    text = ODD.read_text()
    assert with_schedule(text) == text, (
        "docs/odd.md section 3 is stale: regenerate it with "
        "`python -c \"from pathlib import Path; from ccgabm.schedule import with_schedule; "
        "p = Path('docs/odd.md'); p.write_text(with_schedule(p.read_text()))\"`"
    )


def test_odd_describes_every_behaviour():
    from ccgabm.behaviours import REGISTERED

    text = ODD.read_text()
    missing = [b.__module__ for b in REGISTERED if f"`{b.__module__}." not in text]
    assert not missing, f"docs/odd.md does not describe {missing}"


def test_doc_links_point_to_files():
    link = re.compile(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)")
    broken = []
    for doc in (README, ODD, GUIDE):
        for target in link.findall(doc.read_text()):
            if not (doc.parent / target).exists():
                broken.append(f"{doc.name} -> {target}")
    assert not broken, f"broken links: {broken}"


# ---- guide examples ------------------------------------------------------------------------
@dataclass
class Block:
    lang: str
    code: str
    line: int  # line of the opening fence in guide.md
    mark: str = ""  # "", "not-run: ...", "needs: ..."


def guide_blocks(text: str) -> list[Block]:
    """Fenced code blocks of the guide with the marker comment just above each, if any."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or not match.group(1):
            i += 1
            continue
        start = i
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        mark = MARK.match(lines[j].strip()) if j >= 0 else None
        body = []
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        blocks.append(
            Block(
                match.group(1),
                "\n".join(body) + "\n",
                start + 1,
                "" if not mark else f"{mark.group(1)}: {mark.group(2)}" if mark.group(2)
                else mark.group(1),
            )
        )
        i += 1
    return blocks


def test_guide_blocks_are_runnable_or_marked():
    blocks = guide_blocks(GUIDE.read_text())
    langs = {b.lang for b in blocks}
    assert langs <= {"bash", "python", "toml", "text"}, f"unexpected block languages {langs}"
    runnable = [b for b in blocks if b.lang in ("bash", "python") and not b.mark]
    assert len(runnable) >= 8
    for b in blocks:
        if b.mark.startswith("needs"):
            assert b.mark == "needs: shared-data", f"guide.md:{b.line}: unknown marker {b.mark!r}"
        if b.mark.startswith(("file", "register")):
            assert b.lang == "python", f"guide.md:{b.line}: {b.mark!r} needs a python block"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def package_overlay(work: Path) -> None:
    """A scratch copy of the package in ``work``: symlinks to the repository's files, except
    the behaviour registry (a copy, to add lines to); ``work/tests`` has the test helpers."""
    package = work / "ccgabm"
    package.mkdir()
    for entry in (ROOT / "ccgabm").iterdir():
        if entry.name not in ("behaviours", "__pycache__"):
            (package / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    behaviours = package / "behaviours"
    behaviours.mkdir()
    for entry in (ROOT / "ccgabm" / "behaviours").iterdir():
        if entry.name not in ("__init__.py", "__pycache__"):
            (behaviours / entry.name).symlink_to(entry)
    shutil.copy(ROOT / "ccgabm" / "behaviours" / "__init__.py", behaviours / "__init__.py")
    (work / "tests").mkdir()
    for name in ("support.py", "conftest.py"):
        (work / "tests" / name).symlink_to(ROOT / "tests" / name)


def register_lines(registry: Path, lines: str) -> None:
    """Add ``lines`` at the end of the ``REGISTERED = load(...)`` call in ``registry``."""
    text = registry.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(text) if line.startswith("REGISTERED"))
    end = next(i for i in range(start, len(text)) if text[i].rstrip() == ")")
    registry.write_text("".join(text[:end]) + lines + "".join(text[end:]))


def test_guide_examples_run(tmp_path, monkeypatch, capsys):
    """Run every unmarked bash/python block of the guide, in order, in one scratch folder."""
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("configs", "experiments"):  # read-only inputs the examples name
        if (ROOT / name).is_dir():
            (work / name).symlink_to(ROOT / name, target_is_directory=True)
    monkeypatch.chdir(work)
    env = _env()
    overlay = False
    timings = []
    for block in guide_blocks(GUIDE.read_text()):
        if block.lang not in ("bash", "python") or block.mark.startswith("not-run"):
            continue
        if block.mark == "needs: shared-data" and not SHARED_TABLE.is_file():
            continue
        where = f"docs/guide.md:{block.line}"
        started = time.perf_counter()
        if block.mark.startswith(("file", "register")):
            if not overlay:
                package_overlay(work)
                env["PYTHONPATH"] = str(work)
                overlay = True
            if block.mark == "register":
                register_lines(work / "ccgabm" / "behaviours" / "__init__.py", block.code)
            else:
                target = work / block.mark.split(":", 1)[1].strip()
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code)
            continue
        if block.lang == "bash" or overlay:
            command = (["bash", "-euo", "pipefail", "-c", block.code] if block.lang == "bash"
                       else [sys.executable, "-c", block.code])
            proc = subprocess.run(
                command,
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT_S,
            )
            assert proc.returncode == 0, (
                f"{where}: {block.lang} block failed ({proc.returncode})\n{block.code}\n"
                f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
            )
        else:
            # In this process (the package is imported once); a fresh namespace per block.
            exec(compile(block.code, where, "exec"), {"__name__": "__guide__"})
        timings.append((where, time.perf_counter() - started))
    assert overlay, "the guide's worked example of a new behaviour is missing"
    with capsys.disabled():
        total = sum(t for _, t in timings)
        print(
            f"\nguide examples: {len(timings)} blocks in {total:.1f} s; "
            + ", ".join(f"{w.split(':')[1]}: {t:.1f}s" for w, t in timings)
        )
