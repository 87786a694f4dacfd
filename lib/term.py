"""Terminal output: tables that fit, colour (only on a tty, honouring NO_COLOR),
the pager, and a progress line."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from .gruntlib.states import KIND

# a state's colour, by how alarming it is (gruntlib/states.py KIND)
_COLOURS = {"good": "32", "bad": "31", "warn": "33", "active": "36", "waiting": "35"}
MIN_CELL = 6        # a shrunk column keeps at least this many characters


def _tty(stream) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def use_colour(stream=None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return _tty(stream or sys.stdout) and not os.environ.get("NO_COLOR")


def colour_state(state: str, text: str | None = None) -> str:
    text = state if text is None else text
    code = _COLOURS.get(KIND.get(state, ""))
    return f"\033[{code}m{text}\033[0m" if code and use_colour() else text


def width() -> int | None:
    """Columns to fit: $COLUMNS, else the terminal's; None (no limit) for a pipe."""
    raw = os.environ.get("COLUMNS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    if _tty(sys.stdout):
        try:
            return os.get_terminal_size(sys.stdout.fileno()).columns
        except OSError:
            return None
    return None


def _fit(widths: list[int], shrink: list[int], limit: int,
         floor: "dict[int, int] | None" = None) -> list[int]:
    """Narrow the ``shrink`` columns, widest first, until the row fits in ``limit``;
    none below MIN_CELL, or its ``floor``."""
    widths = list(widths)
    total = sum(widths) + 2 * (len(widths) - 1)
    while total > limit:
        cands = [i for i in shrink if widths[i] > (floor or {}).get(i, MIN_CELL)]
        if not cands:
            break
        i = max(cands, key=lambda k: (widths[k], -shrink.index(k)))
        widths[i] -= 1
        total -= 1
    return widths


def ellipsis() -> str:
    """The mark of a cut: an ellipsis, or ``~`` where stdout cannot show one."""
    return "\u2026" if (getattr(sys.stdout, "encoding", "") or "").lower().startswith("utf") else "~"


def _cut(text: str, n: int) -> str:
    """``text`` in at most ``n`` characters, a cut marked with an ellipsis."""
    if len(text) <= n:
        return text
    return text[:max(n - 1, 0)] + ellipsis()


def table(headers: list[str], rows: list[list[str]], colour_col: int | None = None,
          shrink: list[int] | None = None, limit: int | None = None,
          keep: "tuple[int, int] | None" = None) -> str:
    """Rows as left-aligned columns; the last column is never padded.

    With ``limit`` (a terminal width) the ``shrink`` columns are cut to fit,
    widest first; a line that still does not fit is cut at the end.
    ``keep=(column, n)``: that column is cut down to ``n`` characters only
    after the others are as narrow as they go, and then further.
    """
    rows = [[c.replace("\n", " ") for c in r] for r in rows]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    if limit:
        widths = _fit(widths, shrink or [], limit, dict([keep]) if keep else None)
        if keep is not None:
            widths = _fit(widths, shrink or [], limit)
    lines = []
    for r in [headers, *rows]:
        cells = [_cut(c, widths[i]) for i, c in enumerate(r)]
        line = "  ".join(c if i == len(r) - 1 else c.ljust(widths[i])
                         for i, c in enumerate(cells)).rstrip()
        if limit and len(line) > limit:
            line = _cut(line, limit)
        if colour_col is not None and r is not headers:
            at = sum(widths[:colour_col]) + 2 * colour_col
            cell = cells[colour_col]
            if cell and at + len(cell) <= len(line):   # colour only what is shown whole
                line = line[:at] + colour_state(cell.split(" ")[0], cell) + line[at + len(cell):]
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------- pager
def pager_argv() -> list[str] | None:
    """The pager as git finds it: GRUNT_PAGER, else PAGER, else ``less -FRX``; None for none.

    Words are split like a shell would (no shell runs); "" and "cat" mean no pager.
    """
    for name in ("GRUNT_PAGER", "PAGER"):
        if name in os.environ:
            cmd = os.environ[name]
            break
    else:
        cmd = "less -FRX"
    try:
        argv = shlex.split(cmd)
    except ValueError:
        return None
    return None if not argv or argv == ["cat"] else argv


@contextmanager
def pager() -> Iterator[None]:
    """Send everything written to stdout (fd 1, child processes too) through the pager.

    Only when stdout is a terminal; otherwise a no-op.  The pager quitting
    early is no error.
    """
    argv = pager_argv() if _tty(sys.stdout) else None
    if argv is None:
        yield
        return
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")   # as git does: quit on one screen, keep colours
    env.setdefault("LV", "-c")
    sys.stdout.flush()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env)
    except OSError:
        yield   # no such pager: print directly
        return
    saved = os.dup(1)
    os.dup2(p.stdin.fileno(), 1)
    p.stdin.close()
    try:
        yield
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            pass
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        try:
            p.wait()
        except KeyboardInterrupt:
            p.wait()


# ---------------------------------------------------------------- progress
class Progress:
    """One line on stderr, rewritten in place, for a step that takes a while.

    Nothing is shown unless stderr is a terminal, nor before ``delay``
    seconds have passed (GRUNT_PROGRESS_DELAY, default 0.5), so quick
    commands print nothing extra.  The line is erased at the end.
    """

    def __init__(self, what: str):
        self.what = what
        self.text = ""
        self.shown = False
        self.on = _tty(sys.stderr)
        try:
            self.delay = float(os.environ.get("GRUNT_PROGRESS_DELAY", "0.5"))
        except ValueError:
            self.delay = 0.5
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Progress":
        if self.on:
            self._start = time.monotonic()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def update(self, text: str) -> None:
        self.text = text

    def _draw(self) -> None:
        with self._lock:
            secs = time.monotonic() - self._start
            sys.stderr.write(f"\r\033[K{self.what}: {self.text} ({secs:.0f} s)")
            sys.stderr.flush()
            self.shown = True

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        while True:
            self._draw()
            if self._stop.wait(0.2):
                return

    def stop(self) -> None:
        """Stop and erase the line (before printing the result)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def __exit__(self, *exc) -> None:
        self.stop()
