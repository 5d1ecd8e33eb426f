"""``RemoteProcess``: one process on the guest, streamed (the interactive API, async).

Output arrives as ``PtyOutput(offset, data)``: ``offset`` is where ``data`` starts in the
process's whole output, so ``next_offset`` is what a client that reconnects passes to
``RemoteClient.attach`` to get exactly what it missed (a jump in ``offset`` means the guest's
bounded replay buffer no longer held some of it). Output is flow-controlled: a client that stops
calling ``receive`` stalls the process on the guest, it does not grow the guest's memory.
"""

from __future__ import annotations

from sa3p_host._remote._errors import RemoteOperationError
from sa3p_host._remote._link import Inbox, Link
from sa3p_protocol import Message, WireErrorCode
from sa3p_protocol.messages import (
    CloseStdinRequest,
    ErrorReply,
    PtyExit,
    PtyInput,
    PtyOutput,
    ResizeRequest,
    SignalReply,
    SignalRequest,
)

__all__ = ["ProcessEvent", "RemoteProcess"]

ProcessEvent = PtyOutput | PtyExit | SignalReply


class RemoteProcess:
    """A process started by ``RemoteClient.spawn`` or reattached by ``RemoteClient.attach``.

    Attributes:
        pid: the process id on the guest.
        next_offset: the output offset after the last byte received.
        exit: the ``PtyExit`` once received.
    """

    def __init__(self, link: Link, inbox: Inbox, pid: int) -> None:
        self._link = link
        self._inbox = inbox
        self.pid = pid
        self.next_offset = 0
        self.exit: PtyExit | None = None

    async def receive(self) -> ProcessEvent | None:
        """The next output chunk, signal result or the exit; None once the stream ended.

        Raises:
            RemoteOperationError: the guest reported an error or reset the stream.
            RemoteConnectionError: the connection is gone.
        """
        message = await self._inbox.receive()
        if message is None:
            self._link.release(self._inbox.stream_id)
            return None
        return self._accept(message)

    def _accept(self, message: Message) -> ProcessEvent:
        match message:
            case PtyOutput(offset=offset, data=data):
                self.next_offset = offset + len(data)
                return message
            case PtyExit():
                self.exit = message
                return message
            case SignalReply():
                return message
            case ErrorReply():
                raise RemoteOperationError.from_reply(message)
            case _:
                raise RemoteOperationError(
                    WireErrorCode.PROTOCOL_ERROR,
                    f"unexpected {type(message).__name__} on a process",
                )

    async def read_until_exit(self) -> tuple[bytes, PtyExit | None]:
        """Every output byte until the process exits (for tests and small commands)."""
        parts: list[bytes] = []
        while (event := await self.receive()) is not None:
            if isinstance(event, PtyOutput):
                parts.append(event.data)
        return b"".join(parts), self.exit

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the process's input (the terminal, or its stdin pipe)."""
        limit = self._link.connection.max_send_payload
        for start in range(0, len(data), limit):
            await self._link.send(self._inbox.stream_id, PtyInput(data[start : start + limit]))

    async def resize(self, rows: int, columns: int) -> None:
        await self._link.send(self._inbox.stream_id, ResizeRequest(rows, columns))

    async def signal(self, signal: int) -> None:
        """Signal the process group; its ``SignalReply`` comes through ``receive``."""
        await self._link.send(self._inbox.stream_id, SignalRequest(0, signal))

    async def close_stdin(self) -> None:
        await self._link.send(self._inbox.stream_id, CloseStdinRequest())

    def detach(self) -> None:
        """Stop streaming (RESET, code CANCELLED): the process keeps running on the guest and
        can be reattached, within the guest's grace period once nobody is attached."""
        self._link.release(self._inbox.stream_id)
