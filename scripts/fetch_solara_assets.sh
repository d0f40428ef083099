#!/usr/bin/env bash
# Fetch the page-shell assets (JS, CSS, fonts) that Solara's pages load from a CDN into an
# offline cache, from the npm registry, so `ccgabm viz` works without cdn.jsdelivr.net.
#
# Usage: scripts/fetch_solara_assets.sh [CACHE_DIR]     (default: .cache/solara-cdn in the repo)
# The viz server points SOLARA_ASSETS_PROXY_CACHE_DIR at that folder when it exists.
# Idempotent: packages already in the cache are skipped (a run with nothing to do is instant).
# Package versions are read from the installed solara's page template, so they follow upgrades.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_DIR=$(realpath -m "${1:-${CCGABM_SOLARA_CDN:-.cache/solara-cdn}}")
PY=${PYTHON:-.venv/bin/python}

# Which packages (name@version) the installed solara asks for.
mapfile -t PKGS < <("$PY" - <<'PYEOF'
import re
from pathlib import Path

import ipyvuetify
import solara.server

template = (Path(solara.server.__file__).parent / "templates" / "solara.html.j2").read_text()
app = "solara-vuetify3-app" if int(ipyvuetify.__version__.split(".")[0]) >= 3 else "solara-vuetify-app"
wanted = {
    f"@widgetti/{app}@" + re.search(rf"@widgetti/{app}@([\w.\-]+)/", template).group(1),
    "requirejs@" + re.search(r"/requirejs@([\w.\-]+)/", template).group(1),
    "font-awesome@4.5.0",  # solara.server.settings.assets.fontawesome_path
}
print("\n".join(sorted(wanted)))
PYEOF
)

missing=()
for spec in "${PKGS[@]}"; do
    [ -f "$CACHE_DIR/$spec/package.json" ] || missing+=("$spec")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "fetch_solara_assets: cache complete at $CACHE_DIR"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "fetch_solara_assets: npm not found; cannot fetch ${missing[*]}" >&2
    exit 1
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for spec in "${missing[@]}"; do
    echo "fetch_solara_assets: npm pack $spec" >&2
    tgz=$(cd "$TMP" && npm pack --silent "$spec" | tail -n 1)
    dest="$CACHE_DIR/$spec"
    rm -rf "$dest.partial"
    mkdir -p "$dest.partial"
    tar -xzf "$TMP/$tgz" -C "$dest.partial" --strip-components=1
    rm -rf "$dest"
    mv "$dest.partial" "$dest"   # package.json appears only once the unpack is complete
done
echo "fetch_solara_assets: cache at $CACHE_DIR ($(du -sh "$CACHE_DIR" | cut -f1))"
