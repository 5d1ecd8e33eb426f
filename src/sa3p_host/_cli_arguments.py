"""Arguments and exit statuses shared by ``sa3p`` (``_cli.py``, ``_run_command.py``) and a guest
started as ``python -m sa3p_host._guest``: only argparse is imported here, so a guest starts
without loading the engine or the parser."""

from __future__ import annotations

import argparse

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "add_serve_arguments", "positive_seconds"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
"""docs/COMMANDS.md, "Exit status": done (failed commands are results), sa3p could not do its
job, a usage error."""


def positive_seconds(text: str) -> float:
    """An argparse ``type``: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"timeout must be a positive number, not {text!r}")
    return value


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    """The options of ``sa3p serve``."""
    serve.add_argument("--listen", required=True, metavar="ADDR", help="where to listen")
    serve.add_argument(
        "--workspace", default=".", metavar="DIR", help="the workspace directory (default: .)"
    )
    serve.add_argument(
        "--token-file", default=None, metavar="FILE", help="a file holding the shared token"
    )
    serve.add_argument(
        "--keep-processes",
        action="store_true",
        help="serve a session: one terminal for all clients, its processes outliving them",
    )
    serve.add_argument(
        "--idle-timeout",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="exit after this long without a connection (default: never)",
    )
