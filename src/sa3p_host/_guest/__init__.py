"""The guest agent (``sa3p serve``): serves the protocol with LocalVfs/LocalTerminal.

``serve_forever(address, workspace, token) -> int`` is what the CLI runs; ``Guest`` is the
async object for embedding and tests; ``main(argv)`` parses ``--listen ADDR --workspace DIR
[--token-file FILE]`` (``python -m sa3p_host._guest`` until ``sa3p serve`` is wired).
"""

from sa3p_host._guest._entry import main, read_token, serve_forever
from sa3p_host._guest._processes import OutputLog
from sa3p_host._guest._server import GUEST_LIMITS, Guest, GuestSettings

__all__ = [
    "GUEST_LIMITS",
    "Guest",
    "GuestSettings",
    "OutputLog",
    "main",
    "read_token",
    "serve_forever",
]
