"""The table of jobs that ``jobs``, ``status`` and ``wait`` print, and its JSON."""
from __future__ import annotations

import json

from .. import term
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


def print_jobs(jobs: list[Job], as_json: bool = False, tree: bool = False) -> None:
    if as_json:
        print(json.dumps([j.as_json() for j in jobs], indent=1))
        return
    if not jobs:
        say("no jobs")
        return
    headers = ["ID", "SERVER", "SCHED_ID", "STATUS", "SUBMIT", "START", "END", "ARGS", "MESSAGE"]
    limit = term.width()
    rows = _job_rows(jobs, short=False, tree=tree)
    if limit and max(map(len, table(headers, rows).splitlines())) > limit:
        rows = _job_rows(jobs, short=True, tree=tree)   # MM-DD HH:MM instead of the whole time
    # to fit the terminal: the message first, then args, server and scheduler id
    say(table(headers, rows, colour_col=3, shrink=[8, 7, 1, 2], limit=limit))


def _job_rows(jobs: list[Job], short: bool, tree: bool = False) -> list[list[str]]:
    def ts(text: str) -> str:
        text = text.replace(" UTC", "")
        return text[5:16] if short and len(text) >= 16 else text
    rows = []
    for j, depth in lineage(jobs) if tree else [(j, 0) for j in jobs]:
        state = j.status + (f" ({j.exit_code})" if j.exit_code not in (None, 0) else "")
        state += j.attempt_label + (" (deciding on a retry)" if j.deciding else "")
        if j.status == PENDING and j.detail:
            state += f" {j.detail.split(' ', 1)[1]}" if " " in j.detail else ""
        if j.status == PENDING and j.unconfirmed:
            state += " (submit left no sign)"
        if j.interrupted:
            state += f" ({', '.join(sorted(set(j.interrupted)))} interrupted)"
        rows.append(["  " * (depth - 1) + "└ " * (depth > 0) + j.id, j.server, j.sched_id, state,
                     ts(j.submit), ts(j.start), ts(j.end),
                     " ".join(j.args), j.message.splitlines()[0] if j.message else ""])
        for t in j.tasks:
            tstate = t.status + (f" ({t.exit_code})" if t.exit_code not in (None, 0) else "")
            rows.append([f"  _{t.index}", "", "", tstate, "", ts(t.start), ts(t.end), "", ""])
    return rows
