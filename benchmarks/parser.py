"""Parser throughput against lxml's XMLPullParser fed the same chunks in the same run.

The documents are well-formed XML (wrapped in a root element, bodies free of ``<`` and ``&``) so
lxml accepts them; both parsers get identical bytes and identical chunkings, and both have their
events drained after every chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial

from lxml import etree

from benchmarks._harness import Measurement, case, measurement, paired_best
from sa3p_parser import EndTag, InstructionParser
from sa3p_parser._instructions import trusted_position, trusted_start_tag, trusted_text
from sa3p_parser._stream_position import count_newlines
from sa3p_parser._tag_grammar import ATTRIBUTE_GROUPS, attributes_of
from sa3p_parser._text_scanner import TOKEN

GROUP = "parser"
_DocumentOf = Callable[[int], bytes]
_KIB = 1024


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[index : index + size] for index in range(0, len(data), size)]


def _sa3p(chunks: list[bytes]) -> int:
    parser = InstructionParser()
    count = 0
    for chunk in chunks:
        count += len(parser.feed(chunk))
    return count + len(parser.finish())


def _lxml(chunks: list[bytes]) -> int:
    parser = etree.XMLPullParser(events=("start", "end"))
    count = 0
    for chunk in chunks:
        parser.feed(chunk)
        count += sum(1 for _ in parser.read_events())
    parser.close()
    return count + sum(1 for _ in parser.read_events())


def body_heavy_document(size: int) -> bytes:
    """One write_file whose body is ``size`` bytes of source-like lines."""
    line = b"    value = compute(alpha, beta) + 42  # a typical line of code\n"
    body = line * (size // len(line) + 1)
    return b'<root><write_file path="big.txt">\n' + body[:size] + b"</write_file></root>"


def tag_dense_document(tags: int) -> bytes:
    """``tags`` short read_file commands, each amid a line of prose."""
    lines = (
        b"Next I look at the module that handles item %d. "
        b'<read_file path="src/pkg/module_%d.py" start_line="1" end_line="40"/>\n' % (i, i)
        for i in range(tags)
    )
    return b"<root>\n" + b"".join(lines) + b"</root>"


def _throughput(document: bytes, size: int, repeat: int) -> tuple[float, float]:
    chunks = _chunks(document, size)
    subject, baseline = paired_best(lambda: _sa3p(chunks), lambda: _lxml(chunks), repeat=repeat)
    megabytes = len(document) / 1e6
    return megabytes / subject, megabytes / baseline


def _label(size: int) -> str:
    return f"{size // _KIB} KiB" if size >= _KIB else f"{size} B"


@case(GROUP)
def body_heavy(quick: bool) -> Iterable[Measurement]:
    """One 8 MB write_file: >= 2x lxml at 64 KiB and 4 KiB chunks, >= 1x at 256 B."""
    size = 2_000_000 if quick else 8_000_000
    document = body_heavy_document(size)
    for chunk, target in ((64 * _KIB, 2.0), (4 * _KIB, 2.0), (256, 1.0)):
        subject, baseline = _throughput(document, chunk, 2 if quick else 9)
        yield measurement(
            group=GROUP,
            case=f"body-heavy {size / 1e6:g} MB write_file, {_label(chunk)} chunks",
            unit="MB/s",
            subject=subject,
            baseline_name="lxml XMLPullParser",
            baseline=baseline,
            goal="ratio>=",
            target=target,
        )


@case(GROUP)
def body_heavy_floor(quick: bool) -> Iterable[Measurement]:
    """Floor: the least a pure-Python parser that reports line numbers does per body chunk: one
    memchr for ``<`` and counting the newlines (the fastest way the standard library offers),
    against lxml on the same document. What the parser must stay under.
    """
    size = 2_000_000 if quick else 8_000_000
    document = body_heavy_document(size)
    for chunk in (64 * _KIB, 4 * _KIB):
        chunks = _chunks(document, chunk)
        subject, baseline = paired_best(
            partial(_body_floor, chunks), partial(_lxml, chunks), repeat=2 if quick else 9
        )
        megabytes = len(document) / 1e6
        yield measurement(
            group=GROUP,
            case=f"floor: memchr for '<' + counting newlines, {_label(chunk)} chunks",
            unit="MB/s",
            subject=megabytes / subject,
            baseline_name="lxml XMLPullParser",
            baseline=megabytes / baseline,
            goal="ratio>=",
            target=2.0,
        )


def _body_floor(chunks: list[bytes]) -> int:
    less_than = ord("<")
    return sum(count_newlines(chunk) for chunk in chunks if less_than not in chunk)


@case(GROUP)
def tag_dense(quick: bool) -> Iterable[Measurement]:
    """Tens of thousands of short read_file tags amid prose: >= 0.5x lxml at 64 KiB and 4 KiB
    chunks, >= 0.3x at 256 B.
    """
    tags = 5_000 if quick else 30_000
    document = tag_dense_document(tags)
    for chunk, target in ((64 * _KIB, 0.5), (4 * _KIB, 0.5), (256, 0.3)):
        subject, baseline = _throughput(document, chunk, 2 if quick else 9)
        yield measurement(
            group=GROUP,
            case=f"tag-dense {tags} read_file tags, {_label(chunk)} chunks",
            unit="MB/s",
            subject=subject,
            baseline_name="lxml XMLPullParser",
            baseline=baseline,
            goal="ratio>=",
            target=target,
        )


@case(GROUP)
def tag_dense_floor(quick: bool) -> Iterable[Measurement]:
    """Floor: the least Python work the tag-dense document needs, deciding nothing (one token
    match per tag, its attribute dict, and the Text, Position, StartTag and EndTag values),
    against lxml on the same document in 64 KiB chunks. What the parser must stay under.
    """
    tags = 5_000 if quick else 30_000
    document = tag_dense_document(tags)
    chunks = _chunks(document, 64 * _KIB)
    text = document.decode()
    subject, baseline = paired_best(
        partial(_values_floor, text), partial(_lxml, chunks), repeat=2 if quick else 9
    )
    megabytes = len(document) / 1e6
    yield measurement(
        group=GROUP,
        case=f"floor: one token match + the values per tag, {tags} tags, no decisions",
        unit="MB/s",
        subject=megabytes / subject,
        baseline_name="lxml XMLPullParser (64 KiB)",
        baseline=megabytes / baseline,
        goal="ratio>=",
        target=0.5,
    )


def _values_floor(text: str) -> int:
    """Match every tag of ``text`` once and build the values the parser gives for it."""
    out: list[object] = []
    line, column, counted, end = 1, 1, 0, EndTag("read_file")
    for match in TOKEN.finditer(text):
        groups = match.groups()
        if groups[1] is None:
            break
        angle = match.end(1)
        attributes = attributes_of(groups, ATTRIBUTE_GROUPS + 1, entities=False) or {}
        last = text.rfind("\n", counted, angle)
        line, column = (line + 1, angle - last) if last != -1 else (line, column + angle - counted)
        counted = angle
        out.append(trusted_text(groups[0] or ""))
        where = trusted_position(line, column, angle)
        out.append(trusted_start_tag(groups[1], attributes, where))
        out.append(end)
    return len(out)


@case(GROUP)
def linear_cost(quick: bool) -> Iterable[Measurement]:
    """Fed one byte at a time, twice the input takes at most 2.3x the time of the input."""
    for name, document_of in _linear_documents(quick):
        single, double = document_of(1), document_of(2)
        one, two = _chunks(single, 1), _chunks(double, 1)
        subject, baseline = paired_best(partial(_sa3p, two), partial(_sa3p, one), repeat=5)
        yield measurement(
            group=GROUP,
            case=f"linear cost, 1-byte chunks, {name}: t(2n) vs t(n), n={len(single)} B",
            unit="s",
            subject=subject,
            baseline_name="sa3p at n",
            baseline=baseline,
            goal="ratio<=",
            target=2.3,
        )


def _linear_documents(quick: bool) -> Iterator[tuple[str, _DocumentOf]]:
    scale = 1 if quick else 4
    yield "tag-dense", lambda factor: tag_dense_document(500 * scale * factor)
    yield "body-heavy", lambda factor: body_heavy_document(50_000 * scale * factor)
