"""The base of pmgen's choice enums (methods, layouts, rerankers, ...): a ``str`` whose
``str()`` and f-string form is its value on every Python (3.12 changed a plain
``str, Enum``'s to ``Class.MEMBER``), so messages, records and flags read the same."""

from __future__ import annotations

from enum import Enum


class Choice(str, Enum):
    """A str enum that prints as its value."""

    def __str__(self) -> str:
        return self.value
