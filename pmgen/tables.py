"""Evaluation tables: the same rows as Markdown (files, README) and as a rich table (terminal)."""

from __future__ import annotations

METRIC_COLUMNS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10", "recall@20", "ndcg@20")


def metric_label(metric: str) -> str:
    """``recall@10`` -> ``R@10``, ``ndcg@20`` -> ``N@20``: the tables' column names."""
    name, k = metric.split("@")
    return f"{'R' if name == 'recall' else 'N'}@{k}"


def metric_rows(results: dict[str, dict[str, float]]) -> list[tuple[str, str, list[str], int]]:
    """(model, subset, formatted metrics, users) per model, for all users and cold items."""
    rows = []
    for model, metrics in results.items():
        for subset, prefix, users_key in (
            ("all", "", "users"),
            ("cold", "cold_", "cold_users"),
        ):
            if f"{prefix}recall@20" not in metrics:
                continue
            values = [f"{metrics.get(prefix + m, float('nan')):.4f}" for m in METRIC_COLUMNS]
            rows.append((model, subset, values, int(metrics.get(users_key, 0))))
    return rows


def metric_header() -> list[str]:
    """Column names of the evaluation table: model, targets, R@5 ... N@20, users."""
    return ["model", "targets", *map(metric_label, METRIC_COLUMNS), "users"]


def markdown_table(results: dict[str, dict[str, float]], protocol: str | None = None) -> str:
    """The evaluation table in Markdown; ``protocol`` (its one-line description) leads it."""
    header = metric_header()
    lines = [f"{protocol}\n"] if protocol else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, subset, values, users in metric_rows(results):
        lines.append("| " + " | ".join([model, subset, *values, str(users)]) + " |")
    return "\n".join(lines)


def print_table(
    results: dict[str, dict[str, float]],
    title: str = "Test set, full ranking",
    protocol: str | None = None,
) -> None:
    """The evaluation table on the terminal, its protocol line under it."""
    from rich.console import Console
    from rich.table import Table

    caption = "cold: users whose target item has < 10 training clicks"
    if protocol:
        caption = f"{protocol}\n{caption}"
    table = Table(title=title, caption=caption)
    for name in metric_header():
        table.add_column(
            name, justify="left" if name in ("model", "targets") else "right", no_wrap=True
        )
    for model, subset, values, users in metric_rows(results):
        table.add_row(model, subset, *values, str(users))
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # logs and pipes: do not squeeze the table to 80 columns
    console.print(table)


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "" if value is None else str(value)


def grid_rows(
    rows: dict[str, dict[str, object]], columns: list[str], digits: int = 3
) -> list[list[str]]:
    """One list of formatted cells per row: its name, then ``columns`` (blank if absent)."""
    return [[name, *(_cell(row.get(c), digits) for c in columns)] for name, row in rows.items()]


def markdown_grid(
    rows: dict[str, dict[str, object]], columns: list[str], first: str = "", digits: int = 3
) -> str:
    """Any named rows of scores as a Markdown table."""
    lines = ["| " + " | ".join([first, *columns]) + " |", "|" + "---|" * (len(columns) + 1)]
    lines += ["| " + " | ".join(cells) + " |" for cells in grid_rows(rows, columns, digits)]
    return "\n".join(lines)


def print_grid(
    rows: dict[str, dict[str, object]],
    columns: list[str],
    title: str,
    first: str = "",
    digits: int = 3,
) -> None:
    """Any named rows of scores as a rich table in the terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column(first, justify="left")
    for name in columns:
        table.add_column(name, justify="right")
    for cells in grid_rows(rows, columns, digits):
        table.add_row(*cells)
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    console.print(table)
