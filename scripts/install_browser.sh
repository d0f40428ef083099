#!/usr/bin/env bash
# Install what the end-to-end browser test (tests/test_viz_browser.py) needs, idempotently:
#   1. Debian's chromium at /usr/bin/chromium (apt-get; root or passwordless sudo),
#   2. Playwright's Python package in .venv, WITHOUT its browser downloads
#      (the test drives /usr/bin/chromium through executable_path; never `playwright install`),
#   3. Solara's page assets from the npm registry into .cache/solara-cdn
#      (scripts/fetch_solara_assets.sh), so the page loads without cdn.jsdelivr.net.
# Each step is skipped when already done (a second run takes a couple of seconds).
# A step that cannot be done prints a warning and the script still exits 0: the browser test
# then skips with the reason. Set CCGABM_SKIP_BROWSER_INSTALL=1 to skip everything.
set -uo pipefail
cd "$(dirname "$0")/.."

warn() { echo "install_browser: warning: $*" >&2; }

if [ "${CCGABM_SKIP_BROWSER_INSTALL:-0}" = "1" ]; then
    echo "install_browser: skipped (CCGABM_SKIP_BROWSER_INSTALL=1)" >&2
    exit 0
fi

# 1. chromium (Debian package: no browser downloads from Playwright's CDN)
if [ -x /usr/bin/chromium ]; then
    :
elif ! command -v apt-get >/dev/null 2>&1; then
    warn "no apt-get: install chromium at /usr/bin/chromium yourself; the browser test will skip"
else
    SUDO=""
    if [ "$(id -u)" != "0" ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            SUDO="sudo -n"
        else
            SUDO="none"
        fi
    fi
    if [ "$SUDO" = "none" ]; then
        warn "not root and no passwordless sudo: cannot apt-get install chromium; the browser test will skip"
    else
        echo "install_browser: apt-get install chromium (about a minute, once)" >&2
        export DEBIAN_FRONTEND=noninteractive
        if ! { $SUDO apt-get update -qq </dev/null \
                && $SUDO apt-get install -y -qq chromium </dev/null >/tmp/ccgabm-apt-chromium.log 2>&1; }; then
            warn "apt-get install chromium failed (log: /tmp/ccgabm-apt-chromium.log); the browser test will skip"
        fi
    fi
fi

# 2. playwright (Python package only)
if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import playwright.sync_api" 2>/dev/null; then
    echo "install_browser: pip install playwright (no browser download)" >&2
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 .venv/bin/python -m pip install --quiet "playwright>=1.45" \
        || warn "pip install playwright failed; the browser test will skip"
fi

# 3. Solara page assets (npm registry)
if [ -x .venv/bin/python ]; then
    bash scripts/fetch_solara_assets.sh >/dev/null \
        || warn "could not fetch Solara's page assets (needs npm); the browser test will skip"
fi

if [ -x /usr/bin/chromium ]; then
    echo "install_browser: ready ($(/usr/bin/chromium --version 2>/dev/null | head -n 1))" >&2
fi
exit 0
