"""``grunt report``: one self-contained HTML file of runs.

Nothing in it is fetched: the style is inline, the charts are inline SVG, and
there is no script.  It holds the charts of the chosen columns, the compare
table, and the jobs with their messages, args, states and times; it prints
readably (black on white, tables that break across pages, charts kept whole).
"""
from __future__ import annotations

import html
import math
import time
from typing import NamedTuple

from ..gruntlib import protocol as P
from .chart import Line, bounds, fmt, nice_range, nice_ticks
from .compare import Compared

MAX_DEFAULT_CHARTS = 6          # without --y: the first columns of the compare table
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22")
W, H = 760, 340                 # the chart's viewBox
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 44

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; color: #111; background: #fff; margin: 2em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f0f0f0; }
.chart { break-inside: avoid; page-break-inside: avoid; margin: 1em 0; }
.chart svg { width: 100%; max-width: 760px; height: auto; display: block; }
.legend { list-style: none; padding: 0; margin: 0.3em 0; columns: 2; font-size: 0.9em; }
.legend span.swatch { display: inline-block; width: 1.5em; height: 0.35em; margin-right: 0.4em;
  vertical-align: middle; }
.msg { white-space: pre-wrap; }
.wide { overflow-x: auto; }
@media print { body { margin: 0; font-size: 10px; } .wide { overflow: visible; } h2 { break-after: avoid; } tr { break-inside: avoid; }
  a { color: inherit; } }
"""


class Chart(NamedTuple):
    y: str
    x: str
    lines: "list[Line]"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def svg(chart: Chart) -> str:
    """One chart as inline SVG: axes, ticks, grid, a band and a polyline per series."""
    box = bounds(chart.lines)
    if box is None:
        return f'<p>(no numeric points of {_e(chart.y)})</p>'
    xlo, xhi, ylo, yhi = box
    ylo, yhi, yticks = nice_range(ylo, yhi, 6)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - xlo) / (xhi - xlo) * pw

    def sy(y: float) -> float:
        return TOP + (yhi - y) / (yhi - ylo) * ph
    out = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" '
           f'role="img" aria-label="{_e(chart.y)} over {_e(chart.x)}">',
           f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fff" stroke="#888"/>']
    for t in yticks:
        y = sy(t)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{fmt(t)}</text>')
    for t in nice_ticks(xlo, xhi, 8):
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + ph}" y2="{TOP + ph + 4}" stroke="#888"/>'
                   f'<text x="{x:.1f}" y="{TOP + ph + 16}" text-anchor="middle" font-size="11">{fmt(t)}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 6}" text-anchor="middle" font-size="12">{_e(chart.x)}</text>'
               f'<text transform="translate(14 {TOP + ph / 2}) rotate(-90)" text-anchor="middle" '
               f'font-size="12">{_e(chart.y)}</text>')
    for i, ln in enumerate(chart.lines):
        colour = PALETTE[i % len(PALETTE)]
        if ln.band:
            edge = [(sx(x), sy(hi)) for x, _, hi in ln.band] + \
                   [(sx(x), sy(lo)) for x, lo, _ in reversed(ln.band)]
            out.append(f'<polygon class="band" points="{_pts(edge)}" fill="{colour}" '
                       f'fill-opacity="0.18" stroke="none"/>')
        for part in _parts(ln.points):
            pts = [(sx(x), sy(y)) for x, y in part]
            if len(pts) == 1:
                out.append(f'<circle class="series" cx="{pts[0][0]:.1f}" cy="{pts[0][1]:.1f}" r="3" '
                           f'fill="{colour}"/>')
            else:
                out.append(f'<polyline class="series" points="{_pts(pts)}" fill="none" '
                           f'stroke="{colour}" stroke-width="1.6"><title>{_e(ln.label)}</title></polyline>')
    out.append("</svg>")
    legend = "".join(f'<li><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
                     f'{_e(ln.label)}</li>' for i, ln in enumerate(chart.lines))
    return "\n".join(out) + f'\n<ul class="legend">{legend}</ul>'


def _parts(points: "list[tuple[float, float]]") -> "list[list[tuple[float, float]]]":
    """The runs of finite points (a NaN breaks the line)."""
    parts: "list[list[tuple[float, float]]]" = [[]]
    for x, y in points:
        if math.isfinite(x) and math.isfinite(y):
            parts[-1].append((x, y))
        elif parts[-1]:
            parts.append([])
    return [p for p in parts if p]


def _pts(pts: "list[tuple[float, float]]") -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)


def _table(headers: "list[str]", rows: "list[list[str]]", numeric_from: int = 99,
           cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for r in rows:
        cells = "".join(f'<td class="num">{_e(c)}</td>' if i >= numeric_from else
                        f'<td class="{cls if i == len(r) - 1 else ""}">{_e(c)}</td>'
                        for i, c in enumerate(r))
        body.append(f"<tr>{cells}</tr>")
    return (f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>\n'
            + "\n".join(body) + "</tbody></table></div>")


def render(cmp: Compared, compare_table: "tuple[list[str], list[list[str]]]",
           charts: "list[Chart]") -> str:
    """The whole HTML document."""
    jobs = []
    for r in cmp.runs:
        if r.job not in jobs:
            jobs.append(r.job)
    proj = cmp.runs[0].job.proj if cmp.runs else ""
    job_rows = [[j.id, j.status, j.submit, j.start, j.end, " ".join(j.args), j.message]
                for j in jobs]
    headers, rows = compare_table
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>grunt report: {_e(proj)}</title>", f"<style>{STYLE}</style></head><body>",
        f"<h1>grunt report: {_e(proj)}</h1>",
        f"<p>{len(cmp.runs)} run(s) of {len(jobs)} job(s), made "
        f"{_e(time.strftime(P.TS_FORMAT, time.gmtime()))}.</p>",
        "<h2>Charts</h2>" if charts else "",
        *(f'<figure class="chart"><figcaption>{_e(c.y)}</figcaption>\n{svg(c)}</figure>'
          for c in charts),
        "<h2>Compare</h2>",
        _table(headers, rows, numeric_from=len(headers) - len(cmp.cols)),
        "<h2>Jobs</h2>",
        _table(["JOB", "STATE", "SUBMIT", "START", "END", "ARGS", "MESSAGE"], job_rows, cls="msg"),
        "</body></html>", ""]
    return "\n".join(p for p in parts if p)
