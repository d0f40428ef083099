"""The parameter table (docs/parameters.md), generated from the config declarations."""

from __future__ import annotations

import dataclasses

from ccgabm.config import SECTIONS
from ccgabm.params import allowed_text

HEADER = """# Parameters

Generated from `ccgabm/config.py` by `ccgabm params --out docs/parameters.md`; a test fails
if this file differs from what the code declares. Sections are TOML tables in a scenario file.

"""


def parameter_table_markdown() -> str:
    """Every parameter with default, allowed values, unit and source, as Markdown."""
    lines = [HEADER]
    for section, cls in SECTIONS.items():
        lines.append(f"## [{section}]\n\n")
        lines.append("| parameter | default | allowed | unit | source | notes |\n")
        lines.append("|---|---|---|---|---|---|\n")
        for f in dataclasses.fields(cls):
            m = f.metadata
            cells = [f"`{f.name}`", f"`{f.default!r}`", allowed_text(f), m["unit"], m["source"],
                     m["doc"]]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n")
        lines.append("\n")
    return "".join(lines)
