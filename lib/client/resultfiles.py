"""Reading result files: CSV, TSV (emergent's etable logs too) and the
``key: value`` / ``key=value`` lines of ``job.out``.

Everything streams: a file is read row by row and only what the caller asks
for is kept (per column a running count, sum, min, max and last value, or a
series thinned to a fixed number of points), so memory does not grow with the
number of rows.  The last row alone (what ``compare`` shows by default) is read
from the end of the file, without reading the rest.

etable headers: the first cell ``_H:`` marks the header row and ``_D:`` the data
rows; a column name carries its type as a first character (``$`` text, ``%``
``#`` ``|`` ``@`` numbers, ``^`` bool) and may end in a shape (``<2:4,4>``),
both dropped from the name.
"""
from __future__ import annotations

import csv
import fnmatch
import math
import os
import re
from typing import Iterator, NamedTuple

from ..gruntlib import protocol as P

RESULT_EXTS = (".csv", ".tsv", ".tab", ".etab")
OUT_FILE = P.OUT             # the key-value lines of a job's output count as a result file
ETABLE_TYPES = "$%#|@^"
TAIL_BYTES = 64 * 1024       # enough for the last row of any sane table
MAX_POINTS = 1024            # a series keeps at most this many points (then every 2nd ...)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"
_KV_COLON = re.compile(r"^\s*([A-Za-z_][\w./-]*)\s*:\s*(" + _NUMBER + r")\s*$", re.I)
_KV_EQUALS = re.compile(r"(?<![\w-])([A-Za-z_][\w./-]*)=(" + _NUMBER + r")(?![\w.])", re.I)
X_NAMES = ("step", "epoch", "iter", "iteration", "trial", "run")   # a default x column


def number(text: str) -> "float | None":
    """A cell as a number, or None when it is not one (empty, text)."""
    try:
        return float(text)
    except ValueError:
        return None


class Header(NamedTuple):
    columns: "list[str]"     # names, type marks dropped
    text_cols: "set[int]"    # columns declared text ($) by an etable header
    delim: str
    etable: bool
    has_header: bool


def _column_name(raw: str, etable: bool) -> str:
    name = raw.strip()
    if etable and name[:1] in ETABLE_TYPES:
        name = name[1:]
    if etable and name.endswith(">") and "<" in name:
        name = name[:name.rindex("<")]
    return name


def _split(line: str, delim: str) -> "list[str]":
    if '"' not in line:
        return line.rstrip("\r\n").split(delim)
    return next(csv.reader([line.rstrip("\r\n")], delimiter=delim), [])


def read_header(path: str, first: str) -> Header:
    """What the first line of a table says: its columns and delimiter."""
    ext = os.path.splitext(path)[1].lower()
    delim = "," if ext == ".csv" else "\t" if ext in (".tsv", ".tab", ".etab") else (
        "\t" if "\t" in first else ",")
    cells = _split(first, delim)
    etable = bool(cells) and cells[0].strip() == "_H:"
    if etable:
        cells = cells[1:]
    if not etable and cells and all(number(c) is not None for c in cells if c.strip()):
        return Header([f"c{i + 1}" for i in range(len(cells))], set(), delim, False, False)
    names, text_cols = [], set()
    for i, raw in enumerate(cells):
        if etable and raw.strip()[:1] == "$":
            text_cols.add(i)
        names.append(_column_name(raw, etable) or f"c{i + 1}")
    return Header(names, text_cols, delim, etable, True)


def _data_cells(line: str, h: Header) -> "list[str] | None":
    """A line's cells, or None for a line that is no data row."""
    if not line.strip():
        return None
    cells = _split(line, h.delim)
    if h.etable:
        if not cells or cells[0].strip() != "_D:":
            return None
        return cells[1:]
    return cells


class Bad(NamedTuple):
    count: int
    example: str


class Table:
    """One result file, opened for reading rows as numbers."""

    def __init__(self, path: str, rel: str):
        self.path, self.rel = path, rel
        self.keyvalue = os.path.basename(path) == OUT_FILE
        self._bad: "dict[str, list]" = {}   # column: [non-numeric cells skipped, the first]
        self.ragged = 0                    # rows with more cells than the header
        if self.keyvalue:
            self.header = None
            self.columns = self._kv_columns()
            return
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
            first = f.readline()   # (a spreadsheet's byte order mark dropped)
        self.header = read_header(path, first) if first.strip() else None
        # etable's text columns ($) are no figures: not offered at all
        self.columns = [c for i, c in enumerate(self.header.columns)
                        if i not in self.header.text_cols] if self.header else []

    # -- job.out: key-value lines --------------------------------------
    def _kv_pairs(self, line: str) -> "list[tuple[str, str]]":
        m = _KV_COLON.match(line)
        if m:
            return [(m.group(1), m.group(2))]
        return _KV_EQUALS.findall(line) if "=" in line else []

    def _kv_columns(self) -> "list[str]":
        seen: "dict[str, None]" = {}
        for line in self._lines():
            for k, _ in self._kv_pairs(line):
                seen.setdefault(k, None)
        return list(seen)

    def _lines(self) -> Iterator[str]:
        with open(self.path, encoding="utf-8-sig", errors="replace", newline="") as f:
            yield from f

    # -- rows -------------------------------------------------------------
    def rows(self) -> Iterator["dict[str, str]"]:
        """Every data row as {column: cell}, in file order."""
        if self.keyvalue:
            # each line with pairs is a row; a key seen again starts the next
            row: "dict[str, str]" = {}
            for line in self._lines():
                for k, v in self._kv_pairs(line):
                    if k in row:
                        yield row
                        row = {}
                    row[k] = v
            if row:
                yield row
            return
        if self.header is None:
            return
        lines = self._lines()
        if self.header.has_header:
            next(lines, None)
        for line in lines:
            cells = _data_cells(line, self.header)
            if cells is not None:
                yield self._as_row(cells)

    def figures(self) -> "dict[str, Stats]":
        """Every column's running figures over the whole file (one pass, no row dicts)."""
        out: "dict[str, Stats]" = {}
        if self.keyvalue:
            for row in self.rows():
                for c in row:
                    _add(out, self, c, row[c])
            return out
        if self.header is None:
            return out
        idx = [(i, c) for i, c in enumerate(self.header.columns) if i not in self.header.text_cols]
        lines = self._lines()
        if self.header.has_header:
            next(lines, None)
        width = len(self.header.columns)
        for line in lines:
            cells = _data_cells(line, self.header)
            if cells is None:
                continue
            if len(cells) > width:
                self.ragged += 1
            n = len(cells)
            for i, c in idx:
                if i < n:
                    _add(out, self, c, cells[i])
        return out

    def pairs(self, xcol: "str | None", ycol: str) -> Iterator["tuple[float, float]"]:
        """(x, y) of every row where both are numbers; x is the row number without ``xcol``."""
        if self.keyvalue or self.header is None:
            for i, row in enumerate(self.rows()):
                y = numeric(self, row, ycol)
                x = float(i) if xcol is None else numeric(self, row, xcol)
                if x is not None and y is not None:
                    yield x, y
            return
        cols = self.header.columns
        yi, xi = cols.index(ycol), (cols.index(xcol) if xcol is not None else -1)
        lines = self._lines()
        if self.header.has_header:
            next(lines, None)
        i = -1
        for line in lines:
            cells = _data_cells(line, self.header)
            if cells is None:
                continue
            i += 1
            y = _cell(self, ycol, cells, yi)
            x = float(i) if xi < 0 else _cell(self, xcol, cells, xi)
            if x is not None and y is not None:
                yield x, y

    def _as_row(self, cells: "list[str]") -> "dict[str, str]":
        cols = self.header.columns
        if len(cells) > len(cols):
            self.ragged += 1
        return {cols[i]: c for i, c in enumerate(cells[:len(cols)])
                if i not in self.header.text_cols}

    def last_row(self) -> "dict[str, str]":
        """The last data row, read from the end of the file."""
        if self.keyvalue:
            last: "dict[str, str]" = {}
            for row in self.rows():   # job.out: later keys override earlier ones
                last.update(row)
            return last
        if self.header is None:
            return {}
        with open(self.path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read().decode("utf-8", "replace")
        lines = tail.splitlines()
        if size > TAIL_BYTES:
            lines = lines[1:]   # the first is likely cut
        for n, line in enumerate(reversed(lines)):
            if size <= TAIL_BYTES and self.header.has_header and n == len(lines) - 1:
                break
            cells = _data_cells(line, self.header)
            if cells is not None:
                return self._as_row(cells)
        return {}

    def note_bad(self, col: str, cell: str) -> None:
        b = self._bad.get(col)
        if b is None:
            self._bad[col] = [1, cell]
        else:
            b[0] += 1

    @property
    def bad(self) -> "dict[str, Bad]":
        """Per column: how many non-numeric cells were skipped, and the first of them."""
        return {c: Bad(n, ex) for c, (n, ex) in self._bad.items()}


def _cell(t: "Table", col: str, cells: "list[str]", i: int) -> "float | None":
    if i >= len(cells):
        return None
    try:
        return float(cells[i])
    except ValueError:
        if cells[i].strip():
            t.note_bad(col, cells[i].strip())
        return None


def _add(out: "dict[str, Stats]", t: Table, col: str, cell: str) -> None:
    v = _cell(t, col, [cell], 0)
    if v is not None:
        s = out.get(col)
        if s is None:
            s = out[col] = Stats()
        s.add(v)


def numeric(t: Table, row: "dict[str, str]", col: str) -> "float | None":
    """A row's cell as a number; a non-numeric cell is noted on the table and skipped."""
    cell = row.get(col)
    if cell is None or not cell.strip():
        return None
    v = number(cell)
    if v is None:
        t.note_bad(col, cell.strip())
    return v


def find(top: str, pattern: "str | None" = None) -> "list[str]":
    """Result files under ``top`` (relative paths, sorted): tables by extension, or what
    the glob ``pattern`` names (matched against the relative path and the file name)."""
    found = []
    for d, dirs, files in os.walk(top):
        rel_d = os.path.relpath(d, top)
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for name in files:
            rel = os.path.normpath(os.path.join(rel_d, name))
            if pattern:
                if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(name, pattern):
                    found.append(rel)
            elif name.lower().endswith(RESULT_EXTS):
                found.append(rel)
    return sorted(found)


class Stats:
    """A column's running figures: count, sum, min, max, last (NaN only in last)."""

    __slots__ = ("n", "k", "total", "lo", "hi", "last")

    def __init__(self) -> None:
        self.n = self.k = 0   # values, and of them not NaN
        self.total, self.lo, self.hi, self.last = 0.0, math.inf, -math.inf, None

    def add(self, v: float) -> None:
        self.n += 1
        self.last = v
        if v == v:   # NaN stays out of sum, min and max
            self.k += 1
            self.total += v
            self.lo = min(self.lo, v)
            self.hi = max(self.hi, v)

    def get(self, stat: str) -> "float | None":
        if not self.n:
            return None
        if stat == "last":
            return self.last
        if stat == "mean":
            return self.total / self.k if self.k else math.nan
        if self.lo > self.hi:   # only NaNs
            return math.nan
        return self.lo if stat == "min" else self.hi


class Series:
    """(x, y) points of one run, thinned as they come: at most MAX_POINTS kept."""

    def __init__(self, cap: int = MAX_POINTS):
        self.cap, self.stride, self.seen = cap, 1, 0
        self.xs: "list[float]" = []
        self.ys: "list[float]" = []
        self.final: "tuple[float, float] | None" = None

    def add(self, x: float, y: float) -> None:
        self.final = (x, y)
        if self.seen % self.stride == 0:
            self.xs.append(x)
            self.ys.append(y)
            if len(self.xs) >= self.cap:   # keep every other point from now on
                self.xs, self.ys = self.xs[::2], self.ys[::2]
                self.stride *= 2
        self.seen += 1

    def points(self) -> "list[tuple[float, float]]":
        """The kept points, and the last one seen (a thinned series still ends where it ended)."""
        pts = list(zip(self.xs, self.ys))
        if self.final is not None and (not pts or pts[-1] != self.final):
            pts.append(self.final)
        return pts
