"""The table of jobs that ``jobs``, ``status`` and ``wait`` print, and its JSON."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from .. import term
from ..gruntlib import protocol as P
from ..jobs import PENDING, Job
from ..term import table
from .common import say


def lineage(jobs: list[Job]) -> list[tuple[Job, int]]:
    """Jobs in lineage order: each one followed by the jobs resubmitted from it; (job, depth)."""
    listed = {j.id for j in jobs}
    kids: dict[str, list[Job]] = {}
    for j in jobs:
        kids.setdefault(j.parent if j.parent in listed and j.parent != j.id else "", []).append(j)
    out: list[tuple[Job, int]] = []
    todo = [(j, 0) for j in reversed(kids.get("", []))]
    while todo:
        j, depth = todo.pop()
        out.append((j, depth))
        todo.extend((k, depth + 1) for k in reversed(kids.get(j.id, [])))
    return out


MESSAGE_KEEP = 16   # characters of MESSAGE kept while the other columns are cut


def print_jobs(jobs: list[Job], as_json: bool = False, tree: bool = False,
               folders: bool = False) -> None:
    say(jobs_text(jobs, as_json, tree, folders))


def jobs_text(jobs: list[Job], as_json: bool = False, tree: bool = False,
              folders: bool = False) -> str:
    """What print_jobs prints (for this terminal), without the last newline;
    ``folders``: with a FOLDER column (``jobs all``)."""
    if as_json:
        return json.dumps([j.as_json() for j in jobs], indent=1)
    if not jobs:
        return "no jobs"
    limit = term.width()
    look = {"short": False, "server": True, "duration": False}
    # to fit the terminal: shorter times, no SERVER when every job has the same,
    # the run time instead of START and END; then the columns are cut
    for change in ("short", "server", "duration"):
        headers, rows = _job_rows(jobs, tree, folders, **look)
        if not limit or max(map(len, table(headers, rows).splitlines())) <= limit:
            break
        if change == "server" and len({j.server for j in jobs}) > 1:
            continue
        look[change] = change != "server"
    headers, rows = _job_rows(jobs, tree, folders, **look)
    at = {h: i for i, h in enumerate(headers)}
    shrink = [at[h] for h in ("MESSAGE", "ARGS", "SERVER", "SCHED_ID") if h in at]
    return table(headers, rows, colour_col=at["STATUS"], shrink=shrink, limit=limit,
                 keep=(at["MESSAGE"], MESSAGE_KEEP))


def took(start: str, end: str) -> str:
    """How long a job ran (up to now while it runs): 45s, 12m05s, 3h04m, 2d03h."""
    t0, t1 = P.parse_ts(start), P.parse_ts(end) if end else None
    if t0 is None:
        return ""
    s = max(int(((t1 or datetime.now(timezone.utc)) - t0).total_seconds()), 0)
    for unit, size, sub, subsize in (("d", 86400, "h", 3600), ("h", 3600, "m", 60),
                                     ("m", 60, "s", 1)):
        if s >= size:
            return f"{s // size}{unit}{s % size // subsize:02d}{sub}"
    return f"{s}s"


def print_runs(jobs: list[Job], as_json: bool = False) -> None:
    """``jobs <jobid>``: the runs (tasks) of the jobs, each with its label."""
    if as_json:
        print(json.dumps([j.as_json() for j in jobs], indent=1))
        return
    rows = []
    for j in jobs:
        for t in j.tasks if j.task is None else [t for t in j.tasks if t.index == j.task]:
            tstate = t.status + (f" ({t.exit_code})" if t.exit_code not in (None, 0) else "")
            tstate += j.task_label(t.index)
            rows.append([f"{j.id}_{t.index}", tstate, t.start.replace(" UTC", ""),
                         t.end.replace(" UTC", ""), j.label(t.index)])
        if not j.tasks:
            rows.append([j.id, j.status, j.start.replace(" UTC", ""), j.end.replace(" UTC", ""),
                         " ".join(j.args)])
    say(table(["RUN", "STATUS", "START", "END", "LABEL"], rows, colour_col=1, limit=term.width()))


def _job_rows(jobs: list[Job], tree: bool, folders: bool, short: bool, server: bool,
              duration: bool) -> "tuple[list[str], list[list[str]]]":
    def ts(text: str) -> str:
        text = text.replace(" UTC", "")
        return text[5:16] if short and len(text) >= 16 else text

    def cells(first: str, folder: str, srv: str, sched: str, state: str, times: "list[str]",
              args: str, msg: str) -> "list[str]":
        return ([first] + [folder] * folders + [srv] * server + [sched, state] + times
                + [args, msg])
    headers = cells("ID", "FOLDER", "SERVER", "SCHED_ID", "STATUS",
                    ["SUBMIT", "TIME"] if duration else ["SUBMIT", "START", "END"], "ARGS", "MESSAGE")
    rows = []
    for j, depth in lineage(jobs) if tree else [(j, 0) for j in jobs]:
        state = j.status + (f" ({j.exit_code})" if j.exit_code not in (None, 0) else "")
        if j.is_sweep:
            state = f"{j.status} ({j.counts()})"
        state += j.attempt_label + (" (deciding on a retry)" if j.deciding else "")
        if j.status == PENDING and j.detail:
            state += f" {j.detail.split(' ', 1)[1]}" if " " in j.detail else ""
        if j.status == PENDING and j.unconfirmed:
            state += " (submit left no sign)"
        if j.interrupted:
            state += f" ({', '.join(sorted(set(j.interrupted)))} interrupted)"
        lines = j.message.splitlines() or [""]
        msg = lines[0] + (term.ellipsis() if len(lines) > 1 else "")
        times = [ts(j.submit), took(j.start, j.end)] if duration else [ts(j.submit), ts(j.start), ts(j.end)]
        rows.append(cells("  " * (depth - 1) + "└ " * (depth > 0) + j.id, j.folder, j.server,
                          j.sched_id, state, times, " ".join(j.args), msg))
        for t in [] if j.is_sweep else j.tasks:
            tstate = t.status + (f" ({t.exit_code})" if t.exit_code not in (None, 0) else "")
            tstate += j.task_label(t.index)
            ttimes = ["", took(t.start, t.end)] if duration else ["", ts(t.start), ts(t.end)]
            rows.append(cells(f"  _{t.index}", "", "", "", tstate, ttimes, "", ""))
    return headers, rows
