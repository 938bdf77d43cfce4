"""The AMI wire format, sans I/O: bytes in, messages out; messages in, bytes out.

Theory of operation. AMI is line-based: a banner line on connect, then messages of `Key: value`
lines, each message ended by an empty line. Lines end in CRLF (a bare LF is accepted too). The
parser buffers bytes and only decodes whole lines, so a TCP read that splits a multi-byte UTF-8
character ("Å" in a caller's name) loses nothing. It keeps its scan position, so feeding a message
byte by byte costs the same as feeding it whole: parse time is linear in the input.

It never raises on bad input: garbage lines, an over-long line, or a message that never ends come
out as `Garbage` items beside the good messages, and parsing goes on. A line that can only open a
message (`Event:` from Asterisk, `Action:` from a client) inside an unfinished one means a blank
line went missing, and starts the next message. (`Response:` cannot serve: OriginateResponse events
carry a `Response:` header of their own.)

The same codec serves both ends: the link parses what Asterisk sends and encodes actions; the fake
PBX parses actions and encodes responses and events.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from telephony.errors import HeaderInjection

MAX_LINE = 64 * 1024  # bytes; Asterisk's own lines are far shorter
MAX_HEADERS = 2048  # lines per message
BANNER_PREFIX = "Asterisk Call Manager/"


@dataclass(frozen=True, slots=True)
class Banner:
    text: str

    @property
    def version(self) -> str:
        return self.text.partition("/")[2]


@dataclass(frozen=True, slots=True)
class Garbage:
    """Input that is not AMI; kept for the log, never fatal."""

    reason: str
    data: bytes


@dataclass(frozen=True, slots=True, eq=False)
class Message:
    """One AMI message: its headers in order. Lookups are case-insensitive; where a header
    repeats, `get` returns the first (as Asterisk does with two ActionIDs) and `get_all` all."""

    headers: tuple[tuple[str, str], ...]
    _index: dict[str, str] = field(repr=False, compare=False)

    @classmethod
    def of(cls, headers: Iterable[tuple[str, str]]) -> Message:
        hs = tuple(headers)
        index: dict[str, str] = {}
        for k, v in hs:
            index.setdefault(k.lower(), v)
        return cls(hs, index)

    @classmethod
    def build(cls, **headers: str) -> Message:
        return cls.of(headers.items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and self.headers == other.headers

    def __hash__(self) -> int:
        return hash(self.headers)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._index.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        try:
            return self._index[key.lower()]
        except KeyError:
            raise KeyError(f"no {key!r} header in {self.name or 'message'}") from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def get_all(self, key: str) -> list[str]:
        k = key.lower()
        return [v for name, v in self.headers if name.lower() == k]

    @property
    def event(self) -> str | None:
        return self._index.get("event")

    @property
    def response(self) -> str | None:
        return self._index.get("response")

    @property
    def action(self) -> str | None:
        return self._index.get("action")

    @property
    def action_id(self) -> str | None:
        return self._index.get("actionid")

    @property
    def name(self) -> str:
        return self.event or self.response or self.action or ""

    def variables(self) -> dict[str, str]:
        """`Variable: NAME=value` headers (Status with Variables, Originate) as a dict."""
        out = {}
        for v in self.get_all("Variable"):
            name, _, value = v.partition("=")
            out[name] = value
        return out

    def __repr__(self) -> str:
        return f"<Message {' '.join(f'{k}={v!r}' for k, v in self.headers)}>"


Item = Banner | Message | Garbage

class AmiParser:
    """Feed bytes, get Banner, Message and Garbage items in order. `server=True` parses what a
    client sends (no banner; `Action:` opens a message) for the fake PBX."""

    def __init__(self, *, server: bool = False, max_line: int = MAX_LINE) -> None:
        self._buf = bytearray()
        self._pos = 0  # start of the first line not yet consumed
        self._scan = 0  # where to look for the next LF (no LF between _pos and _scan)
        self._lines: list[bytes] = []
        self._expect_banner = not server
        self._opener = b"action:" if server else b"event:"
        self._max_line = max_line
        self._skipping = False  # inside an over-long line, dropping bytes up to its LF

    def feed(self, data: bytes) -> list[Item]:
        out: list[Item] = []
        buf = self._buf
        buf += data
        while True:
            nl = buf.find(b"\n", self._scan)
            if nl < 0:
                self._scan = len(buf)
                if len(buf) - self._pos > self._max_line and not self._skipping:
                    out.append(Garbage("line over the length limit",
                                       bytes(buf[self._pos:self._pos + 80])))
                    self._skipping = True
                if self._skipping:
                    self._pos = self._scan = len(buf)
                break
            line = bytes(buf[self._pos:nl])
            self._pos = self._scan = nl + 1
            if self._skipping:
                self._skipping = False
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            self._line(line, out)
        if self._pos > 65536 or self._pos == len(buf):
            del buf[:self._pos]
            self._scan -= self._pos
            self._pos = 0
        return out

    def _line(self, line: bytes, out: list[Item]) -> None:
        if self._expect_banner:
            self._expect_banner = False
            text = line.decode("utf-8", "replace")
            if text.startswith(BANNER_PREFIX):
                out.append(Banner(text))
                return
            out.append(Garbage("no AMI banner", line))
        if not line:
            if self._lines:
                self._emit(out)
            return
        if self._lines and line[:7].lower().startswith(self._opener):
            self._emit(out)  # a missing blank line: this line starts the next message
        self._lines.append(line)
        if len(self._lines) > MAX_HEADERS:
            out.append(Garbage("message with too many lines", self._lines[0][:80]))
            self._lines = []

    def _emit(self, out: list[Item]) -> None:
        headers = []
        for raw in self._lines:
            text = raw.decode("utf-8", "replace")
            key, sep, value = text.partition(":")
            if not sep or not key or " " in key:
                out.append(Garbage("line without a header name", raw[:80]))
                continue
            headers.append((key, value[1:] if value.startswith(" ") else value))
        self._lines = []
        if headers:
            out.append(Message.of(headers))


def _check(name: str, value: str) -> None:
    if "\r" in name or "\n" in name or ":" in name:
        raise HeaderInjection(name, value)
    if "\r" in value or "\n" in value:
        raise HeaderInjection(name, value)


def encode(headers: Iterable[tuple[str, str]]) -> bytes:
    """One AMI message; refuses CR or LF in any name or value (HeaderInjection)."""
    parts = []
    for name, value in headers:
        value = str(value)
        _check(name, value)
        parts.append(f"{name}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


def encode_action(action: str, action_id: str, headers: Iterable[tuple[str, str]] = ()
                  ) -> bytes:
    return encode([("Action", action), ("ActionID", action_id), *headers])


def iter_messages(items: Iterable[Item]) -> Iterator[Message]:
    for item in items:
        if isinstance(item, Message):
            yield item
