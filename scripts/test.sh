#!/usr/bin/env bash
# Set up (if needed) and run the default test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# chromium (apt), playwright (pip, no browser download) and Solara's page assets (npm) for the
# browser test; idempotent, and never fatal: without them tests/test_viz_browser.py skips.
bash scripts/install_browser.sh
exec .venv/bin/python -m pytest -q "$@"
