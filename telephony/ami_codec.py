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

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import overload

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

    @overload
    def get(self, key: str) -> str | None: ...

    @overload
    def get(self, key: str, default: str) -> str: ...

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

_BLANK = re.compile(rb"\n\r?\n")  # the empty line that ends a message
_HEADER = re.compile(r"^([^: \n]+): ?(.*)$", re.M)  # one well-formed `Name: value` line
MAX_MESSAGE = 256 * 1024  # bytes of one message before it is taken line by line


class AmiParser:
    """Feed bytes, get Banner, Message and Garbage items in order. `server=True` parses what a
    client sends (no banner; `Action:` opens a message) for the fake PBX.

    Fast path: find the next empty line with one regex search, decode the whole message once and
    split it in C. Lines are only taken one by one (the slow path) for an unfinished message
    larger than MAX_MESSAGE, where an over-long line or a runaway message has to be cut."""

    def __init__(self, *, server: bool = False, max_line: int = MAX_LINE) -> None:
        self._buf = bytearray()
        self._pos = 0  # start of the first byte not yet consumed
        self._scan = 0  # no message end lies before this point
        self._lines: list[bytes] = []  # slow path: lines of the message being read
        self._expect_banner = not server
        self._opener = "Action:" if server else "Event:"
        self._max_line = max_line
        self._skipping = False  # inside an over-long line, dropping bytes up to its LF

    def feed(self, data: bytes) -> list[Item]:
        out: list[Item] = []
        buf = self._buf
        buf += data
        if self._expect_banner:
            nl = buf.find(b"\n", self._pos)
            if nl < 0:
                return out
            line = bytes(buf[self._pos:nl]).rstrip(b"\r")
            self._pos = self._scan = nl + 1
            self._expect_banner = False
            text = line.decode("utf-8", "replace")
            out.append(Banner(text) if text.startswith(BANNER_PREFIX)
                       else Garbage("no AMI banner", line))
        while True:
            if self._lines or self._skipping:
                if not self._slow_line(out):
                    break
                continue
            m = _BLANK.search(buf, max(self._scan - 2, self._pos))
            if m is None:
                self._scan = len(buf)
                if len(buf) - self._pos > MAX_MESSAGE:
                    self._slow_line(out)  # take it line by line from here on
                    continue
                break
            end = m.start()
            if end > self._pos and buf[end - 1] == 13:  # the last line's CR
                end -= 1
            block = bytes(buf[self._pos:end])
            self._pos = self._scan = m.end()
            self._block(block, out)
        if self._pos > 65536 or self._pos == len(buf):
            del buf[:self._pos]
            self._scan = max(self._scan - self._pos, 0)
            self._pos = 0
        return out

    def _block(self, block: bytes, out: list[Item]) -> None:
        text = block.decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        opener = self._opener
        joined = ("\n" + opener) in text or ("\n" + opener.lower()) in text
        if len(block) <= self._max_line and not joined:
            pairs = _HEADER.findall(text)
            if pairs and len(pairs) == text.count("\n") + 1:  # every line well formed
                out.append(Message(tuple(pairs), {k.lower(): v for k, v in reversed(pairs)}))
                return
        lines = text.split("\n")
        if len(block) > self._max_line:
            kept = []
            for line in lines:
                if len(line.encode("utf-8", "replace")) > self._max_line:
                    out.append(Garbage("line over the length limit",
                                       line[:80].encode("utf-8", "replace")))
                else:
                    kept.append(line)
            lines = kept
        if joined:
            # a blank line went missing: cut where a line opens the next message
            start = 0
            for k in range(1, len(lines)):
                if lines[k][:len(opener)].lower() == opener.lower():
                    self._message(lines[start:k], out)
                    start = k
            lines = lines[start:]
        self._message(lines, out)

    def _message(self, lines: list[str], out: list[Item]) -> None:
        headers = []
        index: dict[str, str] = {}
        for line in lines:
            if not line:
                continue  # an extra empty line between messages
            key, sep, value = line.partition(":")
            if not sep or not key or " " in key:
                out.append(Garbage("line without a header name",
                                   line[:80].encode("utf-8", "replace")))
                continue
            if value[:1] == " ":
                value = value[1:]
            headers.append((key, value))
            lk = key.lower()
            if lk not in index:
                index[lk] = value
        if headers:
            out.append(Message(tuple(headers), index))

    def _slow_line(self, out: list[Item]) -> bool:
        """Consumes one line of an oversized message; False when no whole line is buffered."""
        buf = self._buf
        nl = buf.find(b"\n", self._scan)
        if nl < 0:
            self._scan = len(buf)
            if len(buf) - self._pos > self._max_line and not self._skipping:
                out.append(Garbage("line over the length limit",
                                   bytes(buf[self._pos:self._pos + 80])))
                self._skipping = True
            if self._skipping:
                self._pos = self._scan = len(buf)
            return False
        line = bytes(buf[self._pos:nl])
        self._pos = self._scan = nl + 1
        if self._skipping:
            self._skipping = False
            return True
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            if self._lines:
                self._message([ln.decode("utf-8", "replace") for ln in self._lines], out)
                self._lines = []
            return True
        if self._lines and line[:7].lower().startswith(self._opener.lower().encode()):
            self._message([ln.decode("utf-8", "replace") for ln in self._lines], out)
            self._lines = []
        self._lines.append(line)
        if len(self._lines) > MAX_HEADERS:
            out.append(Garbage("message with too many lines", self._lines[0][:80]))
            self._lines = []
        return True


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
