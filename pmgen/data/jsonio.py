"""Streaming JSON readers: JSON Lines, and JSON arrays read element by element with line numbers."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pmgen.data.errors import InvalidInputError, ReadReport
from pmgen.data.lines import NOT_UTF8, iter_lines

INVALID_JSON = "invalid JSON"
# bytes that are not UTF-8 decode (surrogateescape) to lone surrogates U+DC80..U+DCFF
_BAD_BYTE = re.compile("[\udc80-\udcff]")
_WHITESPACE = " \t\r\n"


def iter_jsonl(path: str | Path, report: ReadReport) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value)`` for each non-blank line of a JSON Lines file."""
    for line, text in iter_lines(path, report):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            reason = f"{INVALID_JSON} ({err.msg} at column {err.colno})"
            report.invalid(InvalidInputError(path, line, None, reason, kind=INVALID_JSON))
            continue
        yield line, value


def read_json_object(path: str | Path, what: str = "a JSON object") -> dict[str, Any]:
    """A whole JSON file that must hold one object; anything else names the file."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(path, None, None, f"{INVALID_JSON} ({exc})") from exc
    if not isinstance(value, dict):
        raise InvalidInputError(path, None, None, f"expected {what}")
    return value


class _Stream:
    """Text decoded chunk by chunk from a binary file, with line numbers for any index."""

    def __init__(self, handle: BinaryIO, chunk: int):
        self.handle = handle
        self.chunk = chunk
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.text = ""
        self.pos = 0
        self.eof = False
        self._mark = 0  # newlines are counted up to this index of ``text``
        self._line = 1  # the line number at ``_mark``

    def more(self, size: int = 0) -> bool:
        """Append the next chunk (at least ``size`` bytes); False at end of file."""
        if self.eof:
            return False
        data = self.handle.read(max(size, self.chunk))
        if not data:
            self.eof = True
            self.text += self.decoder.decode(b"", final=True)
            return False
        text = self.decoder.decode(data)
        if self.text == "" and self._mark == 0 and self._line == 1:
            text = text.removeprefix("\ufeff")
        self.text += text
        return True

    def compact(self) -> None:
        """Drop text before ``pos`` once enough has been consumed."""
        if self.pos > self.chunk:
            self.line_of(self.pos)
            self.text = self.text[self.pos :]
            self._mark -= self.pos
            self.pos = 0

    def line_of(self, index: int) -> int:
        if index >= self._mark:
            self._line += self.text.count("\n", self._mark, index)
            self._mark = index
            return self._line
        return self._line - self.text.count("\n", index, self._mark)

    def peek(self, index: int) -> tuple[int, str | None]:
        """The first non-whitespace character at or after ``index``, reading on as needed."""
        while True:
            while index < len(self.text) and self.text[index] in _WHITESPACE:
                index += 1
            if index < len(self.text):
                return index, self.text[index]
            if not self.more():
                return index, None

    def decode(self, decoder: json.JSONDecoder, start: int) -> tuple[Any, int]:
        """``raw_decode`` at ``start``, reading more text while the value may be cut off.

        Each retry reads at least as much again as the value's text so far, so a value
        much larger than a chunk is decoded a logarithmic number of times, not linear.
        """
        while True:
            try:
                value, end = decoder.raw_decode(self.text, start)
            except json.JSONDecodeError as err:
                cut = err.pos >= len(self.text) - 64 or err.msg.startswith("Unterminated string")
                if cut and self.more(len(self.text) - start):
                    continue
                raise
            # a number at the very end of the buffer may continue in the next chunk
            after = end
            while after < len(self.text) and self.text[after] in _WHITESPACE:
                after += 1
            if after == len(self.text) and self.more():
                continue
            return value, end


def iter_json_array(
    path: str | Path,
    report: ReadReport,
    *,
    accept: Callable[[Any], bool] | None = None,
    chunk_chars: int = 1 << 20,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, element)`` for each element of a top-level JSON array, streaming.

    The file is decoded in chunks, so memory holds about one chunk plus one element.
    ``line_number`` is the line where the element starts. An element containing bytes
    that are not UTF-8 is reported as such. After a syntax error (reported at its own
    line) reading resumes at the next ``{`` that decodes to a value ``accept`` takes and
    is followed by ``,`` or ``]``; a file that is not an array at all raises.
    """
    accept = accept or (lambda value: True)
    decoder = json.JSONDecoder()
    with open(path, "rb") as handle:
        stream = _Stream(handle, chunk_chars)
        index, char = stream.peek(0)
        if char != "[":
            raise InvalidInputError(
                path, stream.line_of(index), None, "expected a JSON array ('[' ...)"
            )
        stream.pos = index + 1
        while True:
            stream.compact()
            start, char = stream.peek(stream.pos)
            if char is None:
                reason = "unexpected end of file inside the JSON array"
                report.invalid(InvalidInputError(path, stream.line_of(start), None, reason))
                return
            if char == "]":
                return
            if char == ",":
                stream.pos = start + 1
                continue
            try:
                value, end = stream.decode(decoder, start)
            except json.JSONDecodeError as err:
                bad = _BAD_BYTE.search(stream.text, start, err.pos + 1)
                if bad:  # a stray non-UTF-8 byte outside a string breaks the syntax
                    line, kind = stream.line_of(bad.start()), NOT_UTF8
                    reason = f"{NOT_UTF8} (byte 0x{ord(bad.group()) - 0xDC00:02x})"
                else:
                    line, kind = stream.line_of(err.pos), INVALID_JSON
                    reason = f"{INVALID_JSON} ({err.msg})"
                report.invalid(InvalidInputError(path, line, None, reason, kind=kind))
                resumed = _resync(stream, decoder, start + 1, accept)
                if resumed is None:
                    return
                start, value, end = resumed
            stream.pos = end
            bad = _BAD_BYTE.search(stream.text, start, end)
            if bad:
                byte = ord(bad.group()) - 0xDC00
                reason = f"{NOT_UTF8} (byte 0x{byte:02x})"
                line = stream.line_of(bad.start())
                report.invalid(InvalidInputError(path, line, None, reason, kind=NOT_UTF8))
                continue
            yield stream.line_of(start), value


def _resync(
    stream: _Stream, decoder: json.JSONDecoder, index: int, accept: Callable[[Any], bool]
) -> tuple[int, Any, int] | None:
    """Find the next element after a syntax error: ``(start, value, end)`` or None at EOF."""
    while True:
        brace = stream.text.find("{", index)
        if brace < 0:
            index = len(stream.text)
            if not stream.more():
                return None
            continue
        try:
            value, end = stream.decode(decoder, brace)
        except json.JSONDecodeError:
            index = brace + 1
            continue
        _, after = stream.peek(end)
        if accept(value) and after in (",", "]"):
            return brace, value, end
        index = brace + 1
