"""Write a run's results: summary.json, Parquet tables and overview.png, all or nothing."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ccgabm.plots import overview_figure
from ccgabm.simulate import RunResult


def write_run(result: RunResult, out_dir: Path) -> list[Path]:
    """Write every output to a staging folder, then move each file into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-partial-", dir=out_dir.parent))
    try:
        summary = {k: (None if isinstance(v, float) and v != v else v)
                   for k, v in result.summary.items()}  # NaN is not JSON: write null
        (staging / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        for name, table in result.tables.items():
            table.to_parquet(staging / f"{name}.parquet", index=False)
        result.group_fates.to_parquet(staging / "group_fates.parquet", index=False)
        overview_figure(result.tables, result.summary, staging / "overview.png")
        out_dir.mkdir(exist_ok=True)
        written = []
        for path in sorted(staging.iterdir()):
            os.replace(path, out_dir / path.name)
            written.append(out_dir / path.name)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
