#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install ccgabm (with test extras) into it.
# Finds python3.13/3.12 on PATH or under pyenv; set CCGABM_PYTHON to choose one.
set -euo pipefail
cd "$(dirname "$0")/.."

is_312() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
    local c
    for c in "${CCGABM_PYTHON:-}" python3.14 python3.13 python3.12 python3; do
        [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && is_312 "$c" && { command -v "$c"; return; }
    done
    local root="${PYENV_ROOT:-$HOME/.pyenv}"
    for c in "$root"/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
        [ -x "$c" ] && is_312 "$c" && { echo "$c"; return; }
    done
    return 1
}

if [ -x .venv/bin/python ] && ! is_312 .venv/bin/python; then
    echo "setup: .venv has Python < 3.12; recreating it" >&2
    rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
    if ! PY=$(find_python); then
        echo "setup: error: ccgabm needs Python >= 3.12 (Mesa 3.5 requires it) and none was found." >&2
        echo "setup: install python3.12 (e.g. 'pyenv install 3.12') or set CCGABM_PYTHON=/path/to/python3.12" >&2
        exit 1
    fi
    echo "setup: creating .venv with $PY ($("$PY" --version))" >&2
    "$PY" -m venv .venv
fi
stamp=.venv/.ccgabm-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing ccgabm and its dependencies into .venv" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[test]"
    echo "$want" > "$stamp"
fi
