"""Reading the recorded traces of a real Asterisk 22 (copies in tests/fixtures/asterisk).

`NAME.ami.raw` holds the byte-exact chunks as recv() returned them: a header line
`### +SECONDS CONN << N bytes` (or `>>` for what the client sent), then exactly N bytes.
`NAME.ami` holds one AMI line per trace line: `+SECONDS CONN << line`, comments as `##`.
Either may be gzip-compressed (`NAME.ami.raw.gz`): the bytes read are the recorded ones.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

_CHUNK = re.compile(rb"\n### \+(\d+\.\d+) (\S+) (<<|>>) (\d+) bytes\n")
_LINE = re.compile(r"^\+(\d+\.\d+) (\S+) (<<|>>) ?(.*)$")


@dataclass(frozen=True, slots=True)
class Chunk:
    t: float
    conn: str
    received: bool  # True: Asterisk -> client
    data: bytes


@dataclass(frozen=True, slots=True)
class Line:
    t: float
    conn: str
    received: bool
    text: str


def read_bytes(path: Path) -> bytes:
    """A recording's bytes, uncompressed if its name ends in .gz."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def read_chunks(path: Path) -> list[Chunk]:
    raw = read_bytes(path)
    chunks = []
    pos = 0
    while (m := _CHUNK.search(raw, pos)) is not None:
        n = int(m.group(4))
        start = m.end()
        chunks.append(Chunk(float(m.group(1)), m.group(2).decode(), m.group(3) == b"<<",
                            raw[start:start + n]))
        pos = start + n
    return chunks


def read_lines(path: Path) -> list[Line]:
    lines = []
    for text in read_bytes(path).decode("utf-8", errors="replace").splitlines():
        m = _LINE.match(text)
        if m is not None:
            lines.append(Line(float(m.group(1)), m.group(2), m.group(3) == "<<", m.group(4)))
    return lines
