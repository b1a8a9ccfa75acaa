"""The one table renderer: aligned text, markdown and CSV, with rounding and empty cells."""

import io
import math

import pandas as pd
import pytest

from bench.output.tables import render

TABLE = pd.DataFrame({"model": ["mnist_cnn", "imdb_lstm"], "batch": [1, 128], "median ms": [1.23456, math.nan],
                      "p_value": [0.012345, 0.5]})


def test_text_table_rounds_floats_and_shows_missing_cells():
    lines = render(TABLE, digits={"p_value": 4}, missing="-").splitlines()
    assert lines[0].split() == ["model", "batch", "median", "ms", "p_value"]
    assert lines[1].split() == ["mnist_cnn", "1", "1.235", "0.0123"]
    assert lines[2].split() == ["imdb_lstm", "128", "-", "0.5000"]
    assert len({len(line) for line in lines}) == 1
    # Text to the left, numbers to the right of their column.
    assert lines[1].startswith("mnist_cnn  ") and lines[2].startswith("imdb_lstm  ")
    assert lines[2].index("128") + len("128") == lines[1].index("1 ") + 1 == lines[0].index("batch") + len("batch")


def test_markdown_table():
    lines = render(TABLE, "markdown", default_digits=1).splitlines()
    assert lines[:2] == ["| model | batch | median ms | p_value |", "|---|---|---|---|"]
    assert lines[2] == "| mnist_cnn | 1 | 1.2 | 0.0 |" and lines[3] == "| imdb_lstm | 128 |  | 0.5 |"


def test_csv_keeps_full_precision():
    back = pd.read_csv(io.StringIO(render(TABLE, "csv")))
    pd.testing.assert_frame_equal(back, TABLE)


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="Received: fmt='html'"):
        render(TABLE, "html")
