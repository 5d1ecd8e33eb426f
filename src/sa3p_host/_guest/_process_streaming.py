"""One client attached to one streamed process: output out (from the replay log, paced by
the stream's flow-control window), input, resize, signals and end-of-input in."""

from __future__ import annotations

import signal as signals

import anyio

from sa3p_engine import BackendError, ErrorCode, TerminalError
from sa3p_host._guest._process_table import ManagedProcess, ProcessTable
from sa3p_host._links import AsyncLink
from sa3p_host._remote_errors import RemoteConnectionError, StreamAborted
from sa3p_host._stream_routines import writable
from sa3p_host._wire_values import error_reply
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
    SpawnReply,
)

__all__ = ["stream_process"]


async def stream_process(
    link: AsyncLink,
    stream_id: int,
    table: ProcessTable,
    managed: ManagedProcess,
    *,
    from_offset: int,
) -> None:
    """Serve a PTY_SPAWN / PTY_ATTACH stream until the process's exit is delivered or the client
    goes (then the process lives on, within the table's grace period)."""
    key = (id(link), stream_id)
    table.attach(managed, key, from_offset)
    try:
        await link.send(stream_id, SpawnReply(managed.pid))
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_serve_input, link, stream_id, managed, tasks.cancel_scope)
            try:
                await _send_output(link, stream_id, managed, key)
            finally:
                tasks.cancel_scope.cancel()
    finally:
        table.detach(managed, key)


async def _send_output(
    link: AsyncLink, stream_id: int, managed: ManagedProcess, key: object
) -> None:
    try:
        while True:
            cursor = managed.readers[key]
            if cursor < managed.log.end:
                window = await link.run_steps(writable(link.channel, stream_id))
                size = min(window, link.channel.connection.max_send_payload)
                offset, data = managed.log.read(cursor, size)
                link.channel.send(stream_id, PtyOutput(offset, data))
                link.wake()
                managed.readers[key] = offset + len(data)
                managed.notify()  # the reader may be waiting for us to catch up
            elif managed.finished:
                assert managed.exit_code is not None
                done = PtyExit(managed.exit_code, managed.duration, managed.log.end)
                await link.send(stream_id, done, end=True)
                return
            else:
                await managed.wait_change()
    except (StreamAborted, RemoteConnectionError):
        return


async def _serve_input(
    link: AsyncLink, stream_id: int, managed: ManagedProcess, scope: anyio.CancelScope
) -> None:
    try:
        while (message := await link.receive(stream_id)) is not None:
            try:
                await _apply(link, stream_id, managed, message)
            except BackendError as error:
                await link.send(stream_id, error_reply(error))
    except (StreamAborted, RemoteConnectionError):
        scope.cancel()  # the client detached: stop sending output too


async def _apply(
    link: AsyncLink, stream_id: int, managed: ManagedProcess, message: Message
) -> None:
    match message:
        case PtyInput(data=data):
            await managed.write_input(data)
        case ResizeRequest(rows=rows, columns=columns):
            managed.resize(rows, columns)
        case SignalRequest(signal=number):
            await link.send(stream_id, await _signal(managed, number))
        case CloseStdinRequest():
            managed.close_input()
        case _:
            text = f"{type(message).__name__} is not accepted on a process stream"
            await link.send(stream_id, ErrorReply(WireErrorCode.PROTOCOL_ERROR, text))


async def _signal(managed: ManagedProcess, number: int) -> SignalReply:
    """Signal the process group and answer at once; the exit follows as PTY_EXIT (waiting here
    could put the answer after the stream's END)."""
    if number not in signals.valid_signals() and number != 0:
        raise TerminalError(ErrorCode.INVALID_SIGNAL, f"{number} is not a valid signal number")
    managed.kill(number)
    exited = managed.exit_code is not None
    return SignalReply(pid=managed.pid, signal=number, exited=exited, exit_code=managed.exit_code)
