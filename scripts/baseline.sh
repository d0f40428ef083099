#!/usr/bin/env bash
# Set up (if needed) and run the baseline scenario: results/baseline/{summary.json,*.parquet,overview.png}
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ccgabm run configs/baseline.toml --out results/baseline "$@"
