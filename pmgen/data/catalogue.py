"""The one in-memory form every reader produces: an item catalogue plus user sequences."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pmgen.data.errors import ReadReport


@dataclass
class Item:
    """One recommendable thing: a news article, a film, a product, a track."""

    item_id: str
    title: str = ""
    body: str = ""
    category: str = ""
    images: list[Path] = field(default_factory=list)

    def text(self) -> str:
        """The text the item encoder reads: title, category, then body."""
        parts = [self.title.strip()]
        if self.category.strip():
            parts.append(f"Category: {self.category.strip()}.")
        if self.body.strip():
            parts.append(self.body.strip())
        return " ".join(p for p in parts if p)


@dataclass
class Interactions:
    """A catalogue of items and, per user, the ids of the items they used, oldest first."""

    items: dict[str, Item]
    sequences: dict[str, list[str]]
    report: ReadReport = field(default_factory=ReadReport)
    name: str = "dataset"

    @property
    def num_items(self) -> int:
        return len(self.items)

    @property
    def num_users(self) -> int:
        return len(self.sequences)

    @property
    def num_interactions(self) -> int:
        return sum(len(s) for s in self.sequences.values())

    def describe(self) -> str:
        return (
            f"{self.name}: {self.num_items} items, {self.num_users} users, "
            f"{self.num_interactions} interactions; {self.report.summary()}"
        )
