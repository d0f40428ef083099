"""``ccgabm viz``: serve the SolaraViz page of one scenario (loopback by default)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import socket
import sys
import warnings
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
APP_MODULE = "ccgabm.viz.app"
CACHE_ENV = "CCGABM_SOLARA_CDN"


def assets_cache_dir() -> Path:
    """Offline copy of Solara's CDN assets (filled by scripts/fetch_solara_assets.sh).

    $CCGABM_SOLARA_CDN if set, else ``.cache/solara-cdn`` in the current folder (a source
    checkout), else ``~/.cache/ccgabm/solara-cdn``.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    local = Path.cwd() / ".cache" / "solara-cdn"
    return local if local.is_dir() else Path.home() / ".cache" / "ccgabm" / "solara-cdn"


def port_number(text: str) -> int:
    """A TCP port 0..65535 (0: any free port), for ``--port``."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a port number between 0 and 65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number between 0 and 65535, got {text}")
    return port


def add_viz_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``ccgabm viz`` options to a (sub)parser; pair with :func:`cli_viz`."""
    parser.add_argument("config", nargs="?", default=None,
                        help="TOML scenario file (default: ./configs/baseline.toml if there, "
                        "else every parameter at its default)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}: this machine only)")
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    return parser


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port that is free on ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _check_port(host: str, port: int) -> str | None:
    """None if ``host:port`` can be bound, else why not."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"port {port} on {host} is in use (choose another with --port, or 0 for any)"
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    except (OverflowError, UnicodeError, ValueError) as exc:
        return f"cannot listen on {host}:{port}: {exc}"
    return None


def prepare_environment(config: Path | None) -> list[str]:
    """Environment the page and Solara read at start-up; returns warnings to show."""
    notes = []
    os.environ["SOLARA_APP"] = APP_MODULE
    if config is not None:
        os.environ["CCGABM_VIZ_CONFIG"] = str(config)
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")  # no calls home
    os.environ.setdefault("MPLBACKEND", "Agg")
    cache = assets_cache_dir()
    if (cache / "requirejs@2.3.6").is_dir() or any(cache.glob("@widgetti/*")):
        os.environ.setdefault("SOLARA_ASSETS_PROXY_CACHE_DIR", str(cache))
    else:
        notes.append(
            f"no offline copy of the page's JavaScript at {cache}: the browser will need "
            "cdn.jsdelivr.net (run scripts/fetch_solara_assets.sh to make one)"
        )
    return notes


def cli_viz(args: argparse.Namespace) -> int:
    """Run ``ccgabm viz``: 0 stopped normally, 2 bad config or address."""
    from ccgabm.params import CcgabmError
    from ccgabm.viz.model import default_config_path

    config = Path(args.config) if args.config else default_config_path()
    try:
        from ccgabm.config import load_config

        if config is not None:
            load_config(config)
    except CcgabmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host = args.host
    if not isinstance(args.port, int) or isinstance(args.port, bool) or not 0 <= args.port <= 65535:
        print(f"error: --port {args.port!r} is not allowed: must be a port number between 0 and "
              "65535", file=sys.stderr)
        return 2
    try:
        port = args.port if args.port else free_port(host)
    except (OSError, OverflowError, UnicodeError) as exc:
        print(f"error: --host {host!r}: cannot listen there ({exc})", file=sys.stderr)
        return 2
    problem = _check_port(host, port)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    for note in prepare_environment(config.resolve() if config is not None else None):
        print(f"note: {note}", file=sys.stderr)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: listening on {host}: anyone who can reach this address can use the page",
              file=sys.stderr)

    import uvicorn  # after SOLARA_* are set: solara reads them when its server is imported

    # Solara warns once per browser session that plain http on loopback falls back to lax cookies.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")

    shown = f"[{host}]" if ":" in host else host
    shown_config = config if config is not None else "the default scenario"
    print(f"ccgabm viz: {shown_config} at http://{shown}:{port}/  (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run("solara.server.starlette:app", host=host, port=port, log_level="warning")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ccgabm.viz", description=__doc__)
    add_viz_arguments(parser)
    return cli_viz(parser.parse_args(argv))
