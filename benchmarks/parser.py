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
from sa3p_parser import InstructionParser

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
        subject, baseline = _throughput(document, chunk, 2 if quick else 5)
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
def tag_dense(quick: bool) -> Iterable[Measurement]:
    """Tens of thousands of short read_file tags amid prose: >= 0.5x lxml at every chunk size."""
    tags = 5_000 if quick else 30_000
    document = tag_dense_document(tags)
    for chunk in (64 * _KIB, 4 * _KIB, 256):
        subject, baseline = _throughput(document, chunk, 2 if quick else 5)
        yield measurement(
            group=GROUP,
            case=f"tag-dense {tags} read_file tags, {_label(chunk)} chunks",
            unit="MB/s",
            subject=subject,
            baseline_name="lxml XMLPullParser",
            baseline=baseline,
            goal="ratio>=",
            target=0.5,
        )


@case(GROUP)
def linear_cost(quick: bool) -> Iterable[Measurement]:
    """Fed one byte at a time, twice the input takes at most 2.3x the time of the input."""
    for name, document_of in _linear_documents(quick):
        single, double = document_of(1), document_of(2)
        one, two = _chunks(single, 1), _chunks(double, 1)
        subject, baseline = paired_best(partial(_sa3p, two), partial(_sa3p, one), repeat=3)
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
