"""The guest agent (``sa3p serve``): serves the protocol with LocalVfs/LocalTerminal.

``serve_forever(address, workspace, token) -> int`` is what the CLI runs; ``Guest`` is the
async object for embedding and tests; ``main(argv)`` parses ``--listen ADDR --workspace DIR
[--token-file FILE]`` (``python -m sa3p_host._guest`` until ``sa3p serve`` is wired).
"""

from sa3p_host._guest._guest_server import GUEST_LIMITS, Guest, GuestSettings
from sa3p_host._guest._process_table import OutputLog
from sa3p_host._guest._serve_command import main, read_token, serve_forever

__all__ = [
    "GUEST_LIMITS",
    "Guest",
    "GuestSettings",
    "OutputLog",
    "main",
    "read_token",
    "serve_forever",
]
