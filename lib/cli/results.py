"""Looking across runs' results: compare, plot, report.  They read the laptop's
copies only (no fetch): they work offline, after grunt pull."""
from __future__ import annotations

import csv
import json
import math
import os
import sys
from argparse import Namespace

from .. import term
from ..client import compare as C, report as Rep
from ..client.chart import fmt, render
from ..client.runs import Run, differing, select
from ..errors import GruntError, UsageError
from ..term import table
from .common import Parser, project, say, user


def _note(msg: str) -> None:
    print(f"grunt: note: {msg}", file=sys.stderr, flush=True)


def _notes(lines: "list[str]", most: int = 8) -> None:
    for ln in lines[:most]:
        _note(ln)
    if len(lines) > most:
        _note(f"... and {len(lines) - most} more like these")


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise UsageError(f"not a positive number: {text!r}")
    return n


def _selection_args(p: Parser) -> None:
    p.add_argument("runs", nargs="*")
    p.add_argument("--file", help="glob of the result files to read")
    p.add_argument("--user", type=user)


def compare_args(p: Parser) -> None:
    _selection_args(p)
    p.add_argument("--col", action="append", default=[])
    p.add_argument("--stat", choices=C.STATS, default="last")
    p.add_argument("--sort")
    p.add_argument("--desc", action="store_true")
    p.add_argument("--top", type=_positive)
    p.add_argument("--csv", action="store_true")
    p.add_argument("--json", action="store_true")


def _gather(a: Namespace) -> "tuple[C.Catalog, list[str]]":
    with project(a, share=False, reading=True) as pr:
        runs = select(pr, a.runs)
        if not runs:
            raise GruntError("no runs: no active jobs in the laptop's copy (grunt pull fetches them)")
        return C.Catalog(runs, a.file), differing(runs)


def compared(a: Namespace) -> "tuple[C.Compared, C.Catalog]":
    """The compare table the arguments ask for (sorted, cut to --top), and its catalog."""
    cat, params = _gather(a)
    cmp = C.compare(cat, params, C.parse_cols(a.col, a.stat), a.stat)
    runs = list(cmp.runs)
    if a.sort:
        key = C.sort_key(cmp, a.sort)
        runs.sort(key=key, reverse=a.desc)
        runs = [r for r in runs if not key(r)[0]] + [r for r in runs if key(r)[0]]  # missing last
    if a.top:
        runs = runs[:a.top]
    return cmp._replace(runs=runs), cat


def compare(a: Namespace) -> int:
    if a.csv and a.json:
        raise UsageError("--csv or --json, not both")
    cmp, _ = compared(a)
    if a.json:
        print(json.dumps([_as_json(cmp, r) for r in cmp.runs], indent=1))
    elif a.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["run", *cmp.params, "state", "duration_s", *(c.label for c in cmp.cols)])
        for r in cmp.runs:
            d = r.duration
            w.writerow([r.id, *(r.params.get(k, "") for k in cmp.params), r.state,
                        "" if d is None else f"{d:.0f}",
                        *(_num(cmp.values[r.id].get(c)) for c in cmp.cols)])
    else:
        _print_table(cmp)
    _notes(cmp.notes)
    if cmp.without:
        _note(f"no results in the laptop's copy for {len(cmp.without)} run(s): "
              f"{', '.join(r.id for r in cmp.without[:10])}{' ...' if len(cmp.without) > 10 else ''}"
              " (grunt update asks for them, grunt pull fetches them)")
    return 0


def _print_table(cmp: C.Compared) -> None:
    """The table, fit to the terminal as jobs does: parameters are cut first, then the
    figures that do not fit are left out whole (and named), never cut."""
    headers, rows = table_rows(cmp)
    limit = term.width()
    shrink = list(range(1, 1 + len(cmp.params)))
    fixed = len(headers) - len(cmp.cols)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    gain = sum(max(0, widths[i] - term.MIN_CELL) for i in shrink)   # what cutting params saves

    def fits(n: int) -> bool:
        return sum(widths[:n]) + 2 * (n - 1) - gain <= limit
    keep = len(headers)
    while limit and keep > fixed + 1 and not fits(keep):
        keep -= 1
    if keep < len(headers):
        _note(f"{len(headers) - keep} column(s) left out to fit the terminal: "
              f"{', '.join(headers[keep:])} (--col picks columns; a pipe gets them all)")
    say(table(headers[:keep], [r[:keep] for r in rows], shrink=shrink, limit=limit))


def _num(v: "float | None") -> str:
    return "" if v is None else fmt(v)


def duration(secs: "float | None") -> str:
    if secs is None:
        return ""
    s = int(round(secs))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def table_rows(cmp: C.Compared) -> "tuple[list[str], list[list[str]]]":
    """The compare table as text cells: run, parameters, state, time, figures."""
    headers = ["RUN", *cmp.params, "STATE", "TIME", *(c.label for c in cmp.cols)]
    without = {r.id for r in cmp.without}
    rows = []
    for r in cmp.runs:
        state = r.state + (" (no results)" if r.id in without else "")
        rows.append([r.id, *(r.params.get(k, "-") for k in cmp.params), state,
                     duration(r.duration),
                     *(_num(cmp.values[r.id].get(c)) or "-" for c in cmp.cols)])
    return headers, rows


def _as_json(cmp: C.Compared, r: Run) -> dict:
    def clean(v: float) -> "float | None":
        return v if math.isfinite(v) else None
    return {"run": r.id, "job": r.job.id, "task": r.task, "message": r.job.message,
            "params": r.params, "args": r.args,
            "state": r.state, "start": r.start, "end": r.end, "duration": r.duration,
            "results": r.id not in {w.id for w in cmp.without},
            "metrics": {c.label: clean(cmp.values[r.id][c]) for c in cmp.cols
                        if c in cmp.values[r.id]}}


def plot_args(p: Parser) -> None:
    _selection_args(p)
    p.add_argument("--y", required=True)
    p.add_argument("--x")
    p.add_argument("--by")
    p.add_argument("--height", type=_positive, default=16)


def plot(a: Namespace) -> int:
    cat, params = _gather(a)
    lines, xname, notes = C.chart_lines(cat, a.y, a.x, a.by, params)
    width = term.width() or 80
    enc = (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "")
    say(render(lines, width, a.height, xname, a.y, colour=term.use_colour(),
               unicode=enc.startswith("utf")))
    _notes(notes)
    return 0


def report_args(p: Parser) -> None:
    compare_args(p)
    p.add_argument("-o", "--output", default="report.html")
    p.add_argument("--y", action="append", default=[])
    p.add_argument("--x")
    p.add_argument("--by")


def report(a: Namespace) -> int:
    cmp, cat = compared(a)
    cat.runs = cmp.runs   # the charts show the runs the table shows (--top)
    ys = a.y or list(dict.fromkeys(c.name for c in cmp.cols))[:Rep.MAX_DEFAULT_CHARTS]
    charts = []
    for y in ys:
        lines, xname, notes = C.chart_lines(cat, y, a.x, a.by, cmp.params, bins=200)
        charts.append(Rep.Chart(y, xname, lines))
    html = Rep.render(cmp, table_rows(cmp), charts)
    path = os.path.abspath(a.output)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(html)
    os.replace(tmp, path)
    say(f"wrote {a.output}: {len(cmp.runs)} run(s), {len(charts)} chart(s)")
    _notes(cmp.notes)
    return 0
