"""The guest agent (``sa3p serve``): serves the protocol with LocalVfs/LocalTerminal.

``serve_forever(address, workspace, token, ...) -> int`` is what ``sa3p serve`` runs (also
``python -m sa3p_host._guest``, as sessions start it); ``Guest`` is the async object for
embedding and tests.
"""

from sa3p_host._guest._guest_server import GUEST_LIMITS, Guest, GuestSettings
from sa3p_host._guest._process_table import OutputLog
from sa3p_host._guest._serve_command import read_token, serve_forever

__all__ = [
    "GUEST_LIMITS",
    "Guest",
    "GuestSettings",
    "OutputLog",
    "read_token",
    "serve_forever",
]
