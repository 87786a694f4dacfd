"""Terminal output: tables and colour (only on a tty, honouring NO_COLOR)."""
from __future__ import annotations

import os
import sys

_COLOURS = {"Done": "32", "Failed": "31", "Timeout": "31", "OutOfMemory": "31",
            "Canceled": "33", "Running": "36", "Pending": "35"}


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def colour_state(state: str, text: str | None = None) -> str:
    text = state if text is None else text
    code = _COLOURS.get(state)
    return f"\033[{code}m{text}\033[0m" if code and use_colour() else text


def table(headers: list[str], rows: list[list[str]], colour_col: int | None = None) -> str:
    """Rows as left-aligned columns; the last column is never padded."""
    rows = [[c.replace("\n", " ") for c in r] for r in rows]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for r in [headers, *rows]:
        cells = []
        for i, c in enumerate(r):
            pad = c if i == len(r) - 1 else c.ljust(widths[i])
            if colour_col == i and r is not headers:
                pad = colour_state(c.split(" ")[0], pad)
            cells.append(pad)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
