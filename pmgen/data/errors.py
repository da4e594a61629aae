"""Input errors that name the file, line and field; the skip-and-count and repair reports."""

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
        super().__init__(located(path, line, field_name, reason))


def located(path: str | Path, line: int | None, field_name: str | None, text: str) -> str:
    """``news.tsv:17: field 'News body': text``: where something is, then what about it."""
    where = str(path) if line is None else f"{path}:{line}"
    what = f" field {field_name!r}:" if field_name else ""
    return f"{where}:{what} {text}"


def no_rows_error(path: str | Path, report: ReadReport) -> InvalidInputError:
    """``FILE: has no rows``; or, when it had rows and every one was skipped, why."""
    if report.num_skipped:
        return InvalidInputError(path, None, None, f"every row was skipped: {report.summary()}")
    return InvalidInputError(path, None, None, "has no rows")


@dataclass
class ReadReport:
    """What a reader did: rows read, rows skipped (by reason), rows repaired, and the first
    few messages of each.

    With ``skip_invalid=False`` (the default) the first bad row raises
    :class:`InvalidInputError`; with ``skip_invalid=True`` it is counted here and
    reading goes on, so nothing already read is lost. A row that was read only after an
    unambiguous repair (a tab typed inside the last, free-text column; an empty title kept
    and marked) never raises: :meth:`repaired` counts it under its kind and keeps the
    first ``max_examples`` messages (``file:line: field 'x': what was done``) in
    ``repairs``.
    """

    skip_invalid: bool = False
    rows_read: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    max_examples: int = 20
    repaired_kinds: Counter = field(default_factory=Counter)
    repairs: list[str] = field(default_factory=list)

    def invalid(self, error: InvalidInputError) -> None:
        """Raise ``error``, or record it when skipping is allowed."""
        if not self.skip_invalid:
            raise error
        self.dropped(error)

    def dropped(self, error: InvalidInputError) -> None:
        """Count a row left out by the format's own rule (LaMP's source drops articles
        without an author): skipped and counted whatever ``skip_invalid`` says."""
        self.skipped[error.kind] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(str(error))

    def repaired(
        self,
        path: str | Path,
        line: int | None,
        field_name: str | None,
        what: str,
        kind: str | None = None,
    ) -> None:
        """Record that a row was read after a repair; ``what`` says what was done.

        ``kind`` is the stable category it is counted under (default: ``what``).
        """
        self.repaired_kinds[kind or what] += 1
        if len(self.repairs) < self.max_examples:
            self.repairs.append(located(path, line, field_name, what))

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    @property
    def num_repairs(self) -> int:
        return sum(self.repaired_kinds.values())

    def merge(self, other: ReadReport) -> None:
        self.rows_read += other.rows_read
        self.skipped.update(other.skipped)
        room = self.max_examples - len(self.examples)
        self.examples.extend(other.examples[: max(room, 0)])
        self.repaired_kinds.update(other.repaired_kinds)
        room = self.max_examples - len(self.repairs)
        self.repairs.extend(other.repairs[: max(room, 0)])

    def summary(self) -> str:
        if not self.num_skipped:
            text = f"read {self.rows_read} rows, none skipped"
        else:
            reasons = ", ".join(f"{n} x {reason}" for reason, n in self.skipped.most_common())
            text = f"read {self.rows_read} rows, skipped {self.num_skipped}: {reasons}"
        if self.num_repairs:
            kinds = ", ".join(f"{n} x {kind}" for kind, n in self.repaired_kinds.most_common())
            text += f"; repaired {self.num_repairs}: {kinds}"
        return text
