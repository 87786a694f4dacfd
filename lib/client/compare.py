"""Runs side by side: which result columns they have, their final figures, and
the series a chart draws.

A column is named as in its file (``loss``); when files of different names
both have a ``loss``, each is named after its file too (``eval.csv:loss``).
``job.out``'s ``key: value`` and ``key=value`` lines are the file ``job.out``.
"""
from __future__ import annotations

import fnmatch
import os
from typing import NamedTuple

from ..errors import GruntError, UsageError
from . import resultfiles as R
from .chart import Line, bounds, group_band
from .runs import Run

STATS = ("last", "min", "max", "mean")
NO_RESULTS = ("no results for these runs in the laptop's copy: grunt update asks grund to "
              "copy them, then grunt pull fetches them")


class Col(NamedTuple):
    name: str            # as shown: plain, or <file>:<column> when two files share the column
    stat: str = "last"

    @property
    def label(self) -> str:
        return self.name if self.stat == "last" else f"{self.name}:{self.stat}"


class Catalog:
    """The result files of each run and the columns they hold."""

    def __init__(self, runs: "list[Run]", pattern: "str | None" = None):
        self.runs = runs
        self.tables: "dict[str, list[R.Table]]" = {}
        self.notes: "list[str]" = []
        for run in runs:
            self.tables[run.id] = self._open(run, pattern)
        where: "dict[str, set[str]]" = {}
        for ts in self.tables.values():
            for t in ts:
                for c in t.columns:
                    where.setdefault(c, set()).add(t.rel)
        self.shared = {c for c, rels in where.items() if len(rels) > 1}
        if not any(self.tables.values()):
            raise GruntError(NO_RESULTS)

    def _open(self, run: Run, pattern: "str | None") -> "list[R.Table]":
        found = []
        if os.path.isdir(run.results):
            for rel in R.find(run.results, pattern):
                if rel != R.OUT_FILE:
                    found.append(R.Table(os.path.join(run.results, rel), rel))
        run.files = [t.rel for t in found]
        if os.path.isfile(run.out) and (not pattern or fnmatch.fnmatch(R.OUT_FILE, pattern)):
            t = R.Table(run.out, R.OUT_FILE)
            if t.columns:
                found.append(t)
        return [t for t in found if t.columns]

    def key(self, t: R.Table, col: str) -> str:
        return f"{t.rel}:{col}" if col in self.shared else col

    def names(self) -> "list[str]":
        out: "dict[str, None]" = {}
        for ts in self.tables.values():
            for t in ts:
                for c in t.columns:
                    out.setdefault(self.key(t, c), None)
        return list(out)

    def resolve(self, wanted: str) -> "list[str]":
        """The column names ``wanted`` stands for; an error naming the others when none."""
        names = self.names()
        if wanted in names:
            return [wanted]
        hits = [n for n in names if n.rpartition(":")[2] == wanted]
        if hits:
            return hits
        raise UsageError(f"no column '{wanted}' in the results of these runs; "
                         f"there are: {', '.join(names) or '(none)'}")

    def without_results(self) -> "list[Run]":
        return [r for r in self.runs if not self.tables[r.id]]

    def bad_notes(self, cols: "set[str]") -> "list[str]":
        """Non-numeric cells skipped in the columns shown, and ragged rows."""
        out = []
        for run in self.runs:
            for t in self.tables[run.id]:
                for c, b in t.bad.items():
                    if self.key(t, c) in cols:
                        out.append(f"{run.id} {t.rel}: {b.count} non-numeric cell(s) in column "
                                   f"{c} skipped (e.g. {b.example!r})")
                if t.ragged:
                    out.append(f"{run.id} {t.rel}: {t.ragged} row(s) with more cells than "
                               f"columns (the extra cells are left out)")
        return out


def parse_cols(words: "list[str]", stat: str) -> "list[Col]":
    """``--col loss,acc:max``: columns with their statistic (default ``stat``)."""
    out = []
    for word in words:
        for item in filter(None, (w.strip() for w in word.split(","))):
            name, _, st = item.rpartition(":") if item.rpartition(":")[2] in STATS else (item, "", "")
            out.append(Col(name, st or stat))
    return out


class Compared(NamedTuple):
    runs: "list[Run]"
    params: "list[str]"
    cols: "list[Col]"
    values: "dict[str, dict[Col, float]]"   # run id: {column: figure}
    without: "list[Run]"                     # runs without results
    notes: "list[str]"


def compare(cat: Catalog, params: "list[str]", want: "list[Col]", stat: str) -> Compared:
    """Each run's figures for the columns asked (default: every numeric one, ``stat``)."""
    cols = [Col(n, c.stat) for c in want for n in cat.resolve(c.name)]
    stats_needed = {c.stat for c in cols} if cols else {stat}
    full = stats_needed != {"last"}
    values: "dict[str, dict[Col, float]]" = {}
    found: "dict[str, None]" = {}
    for run in cat.runs:
        got: "dict[Col, float]" = {}
        for t in cat.tables[run.id]:
            figures = t.figures() if full else _figures_last(t)
            for c, fig in figures.items():
                name = cat.key(t, c)
                found.setdefault(name, None)
                if cols:
                    for col in cols:
                        if col.name == name and fig.get(col.stat) is not None:
                            got[col] = fig.get(col.stat)
                elif fig.get(stat) is not None:
                    got[Col(name, stat)] = fig.get(stat)
        values[run.id] = got
    if not cols:
        cols = [Col(n, stat) for n in found if any(Col(n, stat) in v for v in values.values())]
    notes = cat.bad_notes({c.name for c in cols})
    return Compared(cat.runs, params, cols, values, cat.without_results(), notes)


def _figures_last(t: R.Table) -> "dict[str, R.Stats]":
    out = {}
    row = t.last_row()
    for c in t.columns:
        v = R.numeric(t, row, c)
        if v is not None:
            s = out[c] = R.Stats()
            s.add(v)
    return out


def series(cat: Catalog, run: Run, y: str, x: "str | None") -> "tuple[R.Series, str] | None":
    """Run ``run``'s (x, y) points for column ``y`` and the x column's name (``row``
    for the row number); None when the run has no such column."""
    for t in cat.tables[run.id]:
        ycol = next((c for c in t.columns if cat.key(t, c) == y), None)
        if ycol is None:
            continue
        xcol = x.rpartition(":")[2] if x else next(
            (c for n in R.X_NAMES for c in t.columns if c.lower() == n and c != ycol), None)
        if xcol is not None and xcol not in t.columns:
            raise UsageError(f"no column '{x}' in {run.id} {t.rel} beside {y}; "
                             f"there are: {', '.join(t.columns)}")
        s = R.Series()
        for xv, yv in t.pairs(xcol, ycol):
            s.add(xv, yv)
        return s, xcol or "row"
    return None


def sort_key(cmp: Compared, name: str):
    """A key function for sorting the runs by a column or parameter (missing last)."""
    col = next((c for c in cmp.cols if name in (c.label, c.name)), None)
    if col is None and name not in cmp.params and name not in ("id", "state", "duration"):
        raise UsageError(f"cannot sort by '{name}': not a column of this table; there are: "
                         + ", ".join(["id", "state", "duration", *cmp.params,
                                      *(c.label for c in cmp.cols)]))

    def key(run: Run):
        if col is not None:
            v = cmp.values[run.id].get(col)
            return (v is None or v != v, v if v is not None else 0.0, "")
        if name == "duration":
            d = run.duration
            return (d is None, d or 0.0, "")
        text = run.id if name == "id" else run.state if name == "state" else run.params.get(name)
        num = R.number(text) if text is not None else None
        return (text is None, num if num is not None else 0.0, text or "")
    return key


def chart_lines(cat: Catalog, y: str, x: "str | None", by: "str | None", params: "list[str]",
                bins: int = 120) -> "tuple[list[Line], str, list[str]]":
    """The lines of a chart of column ``y``: one per run, or with ``by`` one per value of
    that parameter (the mean over its runs, their min..max as a band); the x axis's name;
    notes (runs without the column)."""
    ys = cat.resolve(y)
    if len(ys) > 1:
        raise UsageError(f"column '{y}' is in several files: name one of {', '.join(ys)}")
    if by and not any(by in r.params for r in cat.runs):
        known = sorted({k for r in cat.runs for k in r.params})
        raise UsageError(f"no parameter '{by}' in these runs; there are: {', '.join(known) or '(none)'}")
    got: "list[tuple[Run, list[tuple[float, float]]]]" = []
    xname, notes = "row", []
    for run in cat.runs:
        s = series(cat, run, ys[0], x)
        if s is None:
            if cat.tables[run.id]:
                notes.append(f"{run.id} has no column {ys[0]}")
            continue
        got.append((run, s[0].points()))
        xname = s[1]
    notes += cat.bad_notes(set(ys))
    if not by:
        lines = [Line(run.id + "".join(f"  {k}={run.params[k]}" for k in params
                                       if k in run.params), pts) for run, pts in got]
        return lines, xname, notes
    box = bounds([Line("", pts) for _, pts in got])
    groups: "dict[str, list[list[tuple[float, float]]]]" = {}
    for run, pts in got:
        groups.setdefault(run.params.get(by, "-"), []).append(pts)
    lines = []
    for value, members in sorted(groups.items(), key=lambda kv: _value_key(kv[0])):
        mean, band = group_band(members, bins, box[0], box[1]) if box else ([], [])
        lines.append(Line(f"{by}={value}  (mean of {len(members)} run(s), band: min..max)",
                          mean, band if len(members) > 1 else None))
    return lines, xname, notes


def _value_key(text: str):
    v = R.number(text)
    return (v is None, v if v is not None else 0.0, text)
