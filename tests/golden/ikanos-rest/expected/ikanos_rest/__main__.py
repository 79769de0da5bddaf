"""Command line: ``python -m ikanos_rest rest|mcp [options]``."""

from __future__ import annotations

import argparse
import sys

from . import __version__, logs
from .serve import Listen, StartupError, run, run_stdio, serve
from .settings import ConfigError, load_settings

REST_PORT = 8201


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ikanos-rest", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    rest = commands.add_parser("rest", help="serve the REST adapter")
    rest.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    rest.add_argument("--port", type=int, default=REST_PORT, help=f"port (default: {REST_PORT})")
    mcp = commands.add_parser("mcp", help="serve the MCP server")
    mcp.add_argument("--transport", choices=("stdio",), default="stdio")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log_handler = logs.configure(verbose=args.verbose)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # JSON lines: the access log's message is already a JSON object; no text prefix.
    log_handler.use_json_access(settings.log_format == "json")
    try:
        if args.command == "rest":
            return serve(settings, rest=Listen(args.host, args.port))
        if args.command == "mcp":
            run(settings, lambda: run_stdio(settings))
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
