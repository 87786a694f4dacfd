"""Line charts in the terminal, and the scales both charts (terminal, SVG) share.

On a colour terminal each series is drawn in Unicode braille (2 x 4 dots a
character) in a colour of its own; otherwise in plain text, each series with
a marker character of its own (``*``, ``+``, ``x``, ...), so that the legend
tells them apart without colour.  A spread (the min..max over the runs of a
group) is drawn as a light band of dots under the lines.
"""
from __future__ import annotations

import math
from typing import NamedTuple

MARKERS = "*+xo#@%&=~abcdefghijklmnopqrstuvwyz"
COLOURS = ("34", "31", "32", "35", "33", "36", "94", "91", "92", "95", "93", "96")
_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))   # [dy][dx]


class Line(NamedTuple):
    label: str
    points: "list[tuple[float, float]]"
    band: "list[tuple[float, float, float]] | None" = None    # (x, lo, hi)


def fmt(v: float) -> str:
    """A number in few characters: 0.125, 1.5e-05, 12000, 3."""
    if v != v:
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 1e7:
        return str(int(v))
    return f"{v:.4g}"


def _step(lo: float, hi: float, n: int) -> float:
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def nice_ticks(lo: float, hi: float, n: int = 5) -> "list[float]":
    """Round tick values covering lo..hi (1, 2 or 5 times a power of ten apart)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    step = _step(lo, hi, n)
    t = math.ceil(lo / step - 1e-9) * step
    ticks = []
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def nice_range(lo: float, hi: float, n: int) -> "tuple[float, float, list[float]]":
    """lo..hi widened to round ticks at both ends, and those ticks."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return lo, hi, nice_ticks(lo, hi, n)
    step = _step(lo, hi, n)
    lo2 = math.floor(lo / step + 1e-9) * step
    hi2 = math.ceil(hi / step - 1e-9) * step
    return lo2, hi2, nice_ticks(lo2, hi2, round((hi2 - lo2) / step) + 1)


def bounds(lines: "list[Line]") -> "tuple[float, float, float, float] | None":
    """(xlo, xhi, ylo, yhi) over every finite point and band; None when there is none."""
    xs, ys = [], []
    for ln in lines:
        for x, y in ln.points:
            if math.isfinite(x) and math.isfinite(y):
                xs.append(x)
                ys.append(y)
        for x, lo, hi in ln.band or ():
            if math.isfinite(x) and math.isfinite(lo) and math.isfinite(hi):
                xs.append(x)
                ys.extend((lo, hi))
    if not xs:
        return None
    xlo, xhi, ylo, yhi = min(xs), max(xs), min(ys), max(ys)
    if xhi == xlo:
        xlo, xhi = xlo - 1, xhi + 1
    if yhi == ylo:
        pad = abs(ylo) * 0.1 or 1.0
        ylo, yhi = ylo - pad, yhi + pad
    return xlo, xhi, ylo, yhi


class _Canvas:
    def __init__(self, cols: int, rows: int, sx: int, sy: int, box):
        self.cols, self.rows, self.sx, self.sy = cols, rows, sx, sy
        self.w, self.h = cols * sx, rows * sy
        self.xlo, self.xhi, self.ylo, self.yhi = box
        self.dots = [[0] * cols for _ in range(rows)]
        self.owner = [[-1] * cols for _ in range(rows)]
        self.band = [[False] * cols for _ in range(rows)]

    def px(self, x: float, y: float) -> "tuple[float, float]":
        return ((x - self.xlo) / (self.xhi - self.xlo) * (self.w - 1),
                (self.yhi - y) / (self.yhi - self.ylo) * (self.h - 1))

    def dot(self, px: int, py: int, who: int, band: bool = False) -> None:
        if not (0 <= px < self.w and 0 <= py < self.h):
            return
        c, r = px // self.sx, py // self.sy
        if band:
            if self.owner[r][c] < 0:
                self.band[r][c] = True
                self.dots[r][c] |= _BRAILLE_BITS[py % self.sy][px % self.sx] if self.sy == 4 else 1
            return
        if self.band[r][c]:   # a line drawn over a band cell clears the band's dots
            self.band[r][c], self.dots[r][c] = False, 0
        self.dots[r][c] |= _BRAILLE_BITS[py % self.sy][px % self.sx] if self.sy == 4 else 1
        self.owner[r][c] = who

    def line(self, pts: "list[tuple[float, float]]", who: int) -> None:
        prev = None
        for x, y in pts:
            if not (math.isfinite(x) and math.isfinite(y)):
                prev = None
                continue
            p = self.px(x, y)
            if prev is None:
                self.dot(round(p[0]), round(p[1]), who)
            else:
                steps = max(1, math.ceil(max(abs(p[0] - prev[0]), abs(p[1] - prev[1]))))
                for i in range(1, steps + 1):
                    f = i / steps
                    self.dot(round(prev[0] + (p[0] - prev[0]) * f),
                             round(prev[1] + (p[1] - prev[1]) * f), who)
            prev = p

    def fill(self, band: "list[tuple[float, float, float]]", who: int) -> None:
        for x, lo, hi in band:
            if not all(map(math.isfinite, (x, lo, hi))):
                continue
            px, top = self.px(x, hi)
            _, bottom = self.px(x, lo)
            for py in range(int(round(top)), int(round(bottom)) + 1, 2):
                self.dot(round(px), py, who, band=True)


def render(lines: "list[Line]", width: int, height: int, xlabel: str, ylabel: str,
           colour: bool = False, unicode: bool = True) -> str:
    """The chart as text lines: y label, plot with y ticks, x axis, x label, legend."""
    box = bounds(lines)
    if box is None:
        return "(nothing to draw: no numeric points)"
    ylo, yhi, yt = nice_range(box[2], box[3], max(4, height // 3))
    box = (box[0], box[1], ylo, yhi)
    ylabels = [fmt(t) for t in yt]
    gutter = max(len(s) for s in ylabels) if ylabels else 1
    cols = max(10, width - gutter - 2)
    braille = colour and unicode
    cv = _Canvas(cols, height, 2 if braille else 1, 4 if braille else 1, box)
    for i, ln in enumerate(lines):
        if ln.band:
            cv.fill(ln.band, i)
    for i, ln in enumerate(lines):
        cv.line(ln.points, i)
    tick_rows = {}
    for t, s in zip(yt, ylabels):
        tick_rows.setdefault(int(round(cv.px(box[0], t)[1])) // cv.sy, s)
    vbar, tick, corner, hbar = ("│", "┤", "└", "─") if unicode else ("|", "+", "+", "-")
    out = [" " * (gutter + 1) + ylabel]
    for r in range(height):
        label = tick_rows.get(r, "")
        cells = "".join(_cell(cv, r, c, colour, braille, unicode) for c in range(cols))
        out.append(f"{label:>{gutter}} {tick if label else vbar}{cells}".rstrip())
    out.append(" " * (gutter + 1) + corner + hbar * cols)
    out.append(" " * (gutter + 2) + _x_ticks(box, cols))
    out.append(" " * (gutter + 2) + xlabel.center(cols).rstrip())
    for i, ln in enumerate(lines):
        out.append("  " + _sample(i, colour, braille) + " " + ln.label)
    return "\n".join(out)


def _cell(cv: _Canvas, r: int, c: int, colour: bool, braille: bool, unicode: bool) -> str:
    bits, who = cv.dots[r][c], cv.owner[r][c]
    if not bits:
        return " "
    if braille:
        ch = chr(0x2800 + bits)
    elif who < 0:
        ch = "·" if unicode else "."
    else:
        ch = MARKERS[who % len(MARKERS)]
    if colour:
        code = COLOURS[max(who, 0) % len(COLOURS)] if who >= 0 else "2"
        return f"\033[{code}m{ch}\033[0m"
    return ch


def _sample(i: int, colour: bool, braille: bool) -> str:
    if colour:
        ch = "⣿" if braille else MARKERS[i % len(MARKERS)]
        return f"\033[{COLOURS[i % len(COLOURS)]}m{ch}\033[0m"
    return MARKERS[i % len(MARKERS)]


def _x_ticks(box, cols: int) -> str:
    """Tick labels under the x axis, each at its column, none overlapping."""
    line = [" "] * (cols + 12)
    for t in nice_ticks(box[0], box[1], max(2, cols // 12)):
        at = int(round((t - box[0]) / (box[1] - box[0]) * (cols - 1)))
        s = fmt(t)
        start = max(0, min(at - len(s) // 2, cols - len(s)))
        if all(ch == " " for ch in line[max(0, start - 1):start + len(s) + 1]):
            line[start:start + len(s)] = list(s)
    return "".join(line).rstrip()


def group_band(runs_points: "list[list[tuple[float, float]]]", bins: int,
               xlo: float, xhi: float) -> "tuple[list[tuple[float, float]], list[tuple[float, float, float]]]":
    """Mean line and min..max band over several runs' series, on ``bins`` x bins."""
    span = (xhi - xlo) or 1.0
    per_bin: "list[list[float]]" = [[] for _ in range(bins)]
    xs_bin: "list[list[float]]" = [[] for _ in range(bins)]
    for pts in runs_points:
        sums: "dict[int, list[float]]" = {}
        for x, y in pts:
            if math.isfinite(x) and math.isfinite(y):
                b = min(bins - 1, max(0, int((x - xlo) / span * bins)))
                sums.setdefault(b, []).append(y)
                xs_bin[b].append(x)
        for b, ys in sums.items():
            per_bin[b].append(sum(ys) / len(ys))   # each run counts once per bin
    mean, band = [], []
    for b, vals in enumerate(per_bin):
        if vals:
            x = sum(xs_bin[b]) / len(xs_bin[b])   # where the bin's points are
            mean.append((x, sum(vals) / len(vals)))
            band.append((x, min(vals), max(vals)))
    return mean, band
