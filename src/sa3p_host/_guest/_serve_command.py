"""Running a guest from the command line: checks first, then serve until a signal.

Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when the address cannot be bound,
2 for bad arguments (an invalid address, a missing workspace, an unreadable or empty token file,
or a non-loopback TCP address without a token).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

import anyio

from sa3p_host._cli_arguments import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_serve_arguments
from sa3p_host._guest._guest_server import Guest, GuestSettings
from sa3p_host._transport import AddressError, TcpAddress, is_loopback, parse_address

__all__ = ["main", "read_token", "serve_forever", "serve_with_token_file"]


def read_token(path: str) -> bytes:
    """The token in ``path``: its bytes without surrounding whitespace.

    Raises:
        ValueError: the file is empty. OSError: it cannot be read.
    """
    with open(path, "rb") as handle:
        token = handle.read().strip()
    if not token:
        raise ValueError(f"the token file {path!r} is empty")
    return token


def serve_forever(
    address: str,
    workspace: str,
    token: bytes | None = None,
    *,
    err: TextIO | None = None,
    keep_processes: bool = False,
    idle_timeout: float | None = None,
) -> int:
    """Check the arguments, then serve ``workspace`` on ``address`` until SIGTERM/SIGINT (or
    ``idle_timeout`` seconds without a connection). ``keep_processes``: serve a session (see
    ``GuestSettings``).

    Returns:
        The exit status (see the module docstring).
    """
    errors = err if err is not None else sys.stderr
    try:
        target = parse_address(address)
    except AddressError as error:
        print(f"sa3p serve: {error}", file=errors)
        return EXIT_USAGE
    if not os.path.isdir(workspace):
        print(f"sa3p serve: --workspace {workspace!r} is not a directory", file=errors)
        return EXIT_USAGE
    if isinstance(target, TcpAddress) and not is_loopback(target) and token is None:
        print(
            f"sa3p serve: refusing to listen on {target} without a token: anyone who can reach"
            " it could run commands; give --token-file, or listen on a loopback address",
            file=errors,
        )
        return EXIT_USAGE
    settings = GuestSettings(
        workspace=os.path.realpath(workspace),
        token=token,
        keep_processes=keep_processes,
        idle_timeout=idle_timeout,
    )
    guest = Guest(settings)
    try:
        anyio.run(lambda: guest.serve(target, handle_signals=True))
    except OSError as error:
        print(f"sa3p serve: cannot listen on {target}: {error.strerror or error}", file=errors)
        return EXIT_FAILURE
    return EXIT_OK


def serve_with_token_file(
    address: str,
    workspace: str,
    token_file: str | None,
    *,
    err: TextIO,
    keep_processes: bool = False,
    idle_timeout: float | None = None,
) -> int:
    """``serve_forever`` with the token read from ``token_file`` (2 when it cannot be used)."""
    token = None
    if token_file is not None:
        try:
            token = read_token(token_file)
        except (OSError, ValueError) as exc:
            print(f"sa3p serve: cannot use the token file: {exc}", file=err)
            return EXIT_USAGE
    return serve_forever(
        address,
        workspace,
        token,
        err=err,
        keep_processes=keep_processes,
        idle_timeout=idle_timeout,
    )


def main(argv: Sequence[str]) -> int:
    """``python -m sa3p_host._guest ARGS``: ``sa3p serve ARGS`` without loading the engine."""
    parser = argparse.ArgumentParser(prog="sa3p serve")
    add_serve_arguments(parser)
    options = parser.parse_args(argv)
    return serve_with_token_file(
        options.listen,
        options.workspace,
        options.token_file,
        err=sys.stderr,
        keep_processes=options.keep_processes,
        idle_timeout=options.idle_timeout,
    )
