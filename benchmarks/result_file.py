"""Where a benchmark script writes its JSON result: ``OUT_DIR/NAME`` and, when the environment
names an ``$OUT`` folder (a remote machine's folder of files to bring back), a copy there."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any


def write_result(out_dir: Path, name: str, result: dict[str, Any]) -> Path:
    """Write ``result`` to ``out_dir/name`` (and ``$OUT/name``); return the first path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    path.write_text(json.dumps(result, indent=2) + "\n")
    extra = Path(os.environ["OUT"]) / name if os.environ.get("OUT") else None
    if extra is not None and extra.resolve() != path.resolve():
        shutil.copy(path, extra)
    return path
