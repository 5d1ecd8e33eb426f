class LineState:
    line: int
    column: int
    offset: int
    def __init__(self) -> None: ...
    def skip_all(self, data: bytes | bytearray, /) -> None: ...
    def skip(self, buf: bytes | bytearray, base: int, offset: int, /) -> None: ...

def scan_commands(
    buf: bytes | bytearray,
    start: int,
    lines: LineState,
    base: int,
    limit: int,
    check_markdown: bool,
    final: bool,
    kit: tuple[type, type, type, type],
    names: tuple[tuple[bytes, str], ...],
    out: list[object],
    /,
) -> tuple[int, bool, int]: ...
