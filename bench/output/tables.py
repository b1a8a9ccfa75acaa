"""The one renderer of tables for the terminal, markdown and CSV (compare, the run summary, the report)."""

from __future__ import annotations

import pandas as pd

FORMATS = ("table", "markdown", "csv")


def render(table: pd.DataFrame, fmt: str = "table", *, digits: dict[str, int] | None = None, default_digits: int = 3,
           missing: str = "") -> str:
    """`table` as text: an aligned table, a markdown table or CSV.

    Args:
        table: the rows; float columns are rounded for "table" and "markdown".
        fmt: one of FORMATS.
        digits: decimals for named float columns (others get `default_digits`).
        missing: what an empty (NaN) cell shows.
    Returns:
        The text, without a trailing newline.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format. Received: fmt={fmt!r}")
    if fmt == "csv":
        return table.to_csv(index=False).rstrip("\n")
    numeric = {column for column in table.columns if pd.api.types.is_numeric_dtype(table[column])}
    table = table.copy()
    for column in table.columns:
        if pd.api.types.is_float_dtype(table[column]):
            places = (digits or {}).get(column, default_digits)
            table[column] = table[column].map(lambda v, d=places: missing if pd.isna(v) else f"{v:.{d}f}")
    table = table.astype(object).where(table.notna(), missing)
    header = [str(column) for column in table.columns]
    rows = [[str(value) for value in row] for row in table.itertuples(index=False)]
    if fmt == "markdown":
        body = ["| " + " | ".join(cells) + " |" for cells in [header, *rows]]
        return "\n".join([body[0], "|" + "|".join("---" for _ in header) + "|", *body[1:]])
    # Text left, numbers right, two spaces between columns.
    widths = [max(len(cell) for cell in cells) for cells in zip(header, *rows)]
    aligned = [str.rjust if column in numeric else str.ljust for column in table.columns]
    return "\n".join("  ".join(align(cell, width) for align, cell, width in zip(aligned, cells, widths)).rstrip()
                     for cells in [header, *rows])
