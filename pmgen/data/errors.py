"""Input errors that name the file, line and field, and the skip-and-count policy."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


class InvalidInputError(ValueError):
    """A row of an input file that cannot be used, located precisely.

    The message reads ``news.tsv:17: field 'News body': empty text``, so a user can
    open the file at that line.
    """

    def __init__(
        self,
        path: str | Path,
        line: int | None,
        field_name: str | None,
        reason: str,
        kind: str | None = None,
    ):
        self.path = str(path)
        self.line = line
        self.field = field_name
        self.reason = reason
        # what ReadReport counts skips under: a stable category ("unknown item id")
        # while ``reason`` may carry the detail ("unknown item id 'N17'")
        self.kind = kind or reason
        where = self.path if line is None else f"{self.path}:{line}"
        what = f" field {field_name!r}:" if field_name else ""
        super().__init__(f"{where}:{what} {reason}")


@dataclass
class ReadReport:
    """What a reader did: rows read, rows skipped (by reason) and the first few messages.

    With ``skip_invalid=False`` (the default) the first bad row raises
    :class:`InvalidInputError`; with ``skip_invalid=True`` it is counted here and
    reading goes on, so nothing already read is lost.
    """

    skip_invalid: bool = False
    rows_read: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    max_examples: int = 20

    def invalid(self, error: InvalidInputError) -> None:
        """Raise ``error``, or record it when skipping is allowed."""
        if not self.skip_invalid:
            raise error
        self.skipped[error.kind] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(str(error))

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    def merge(self, other: ReadReport) -> None:
        self.rows_read += other.rows_read
        self.skipped.update(other.skipped)
        room = self.max_examples - len(self.examples)
        self.examples.extend(other.examples[: max(room, 0)])

    def summary(self) -> str:
        if not self.num_skipped:
            return f"read {self.rows_read} rows, none skipped"
        reasons = ", ".join(f"{n} x {reason}" for reason, n in self.skipped.most_common())
        return f"read {self.rows_read} rows, skipped {self.num_skipped}: {reasons}"
