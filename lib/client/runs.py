"""Runs: what ``compare``, ``plot`` and ``report`` line up.

A plain job is one run; a sweep (a job whose directory holds ``job.sweep``)
is one run per task, addressed ``<jobid>_<task>``.  A run's parameters are
the sweep's values, or for a plain job its args read as ``--name value``
pairs.  Its results are the laptop's results copy of the job (a sweep task's:
``runs/<task>/`` of it), its output ``job.out`` (a sweep task's:
``runs/<task>/job.out`` of the results).  Everything here reads the local
copies only: it works offline, after ``grunt pull``.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field

from .. import jobs as J
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P
from . import jobcache
from .project import Project

# the sweep's description in the job directory (the sweeps protocol: version 1)
SWEEP = getattr(P, "SWEEP", "job.sweep")
RUNS_DIR = "runs"                  # a sweep task's results: runs/<task>/ of the job's (sweeps protocol)
ARGS_KEY = "args"                  # a plain job's words that are no --name value pair
_RUN_RE = re.compile(r"^(.+)_(\d+)$")


@dataclass
class Run:
    id: str                        # <jobid> or <jobid>_<task>
    job: J.Job
    task: "int | None"
    params: "dict[str, str]"
    args: "list[str]"
    results: str                   # the run's results directory in the laptop's copy
    out: str                       # its job.out
    state: str = ""
    start: str = ""
    end: str = ""
    files: "list[str]" = field(default_factory=list)   # result files found (relative)

    @property
    def duration(self) -> "float | None":
        """Seconds from start to end (to now while running); None before it started."""
        a = P.parse_ts(self.start)
        if a is None:
            return None
        b = P.parse_ts(self.end)
        if b is None:
            if self.state != J.RUNNING:
                return None
            b = dt.datetime.now(dt.timezone.utc)
        return max(0.0, (b - a).total_seconds())


def task_state(job: J.Job, task: int) -> "tuple[str, str, str]":
    """A sweep task's (state, start, end): its own when the job records per-task
    states (the array tasks of the job), else the job's."""
    for t in job.tasks:
        if t.index == task:
            return t.status, t.start, t.end
    return job.status, job.start, job.end


def read_sweep(job: J.Job) -> "dict | None":
    """The job's ``job.sweep`` (version 1), or None for a plain job."""
    text = P.read_text(os.path.join(job.path, SWEEP))
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise GruntError(f"{job.id}: {SWEEP} is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list) or not all(
            isinstance(r, dict) and str(r.get("task", "")).isdigit() for r in data["runs"]):
        raise GruntError(f"{job.id}: {SWEEP} has no list of runs with task numbers")
    if data.get("version") != 1:
        raise GruntError(f"{job.id}: {SWEEP} is version {data.get('version')}, this grunt "
                         f"reads version 1: a newer grunt wrote it")
    return data


def parse_args(args: "list[str]") -> "dict[str, str]":
    """Args as parameters: ``--name value`` and ``--name=value`` pairs, a lone
    ``--flag`` as "yes"; the other words together under ``args``."""
    out: "dict[str, str]" = {}
    rest = []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and len(a) > 1 and not _is_number(a):
            name, eq, value = a.lstrip("-").partition("=")
            if not eq:
                if i + 1 < len(args) and (not args[i + 1].startswith("-") or _is_number(args[i + 1])):
                    value, i = args[i + 1], i + 1
                else:
                    value = "yes"
            out[name or a] = value
        else:
            rest.append(a)
        i += 1
    if rest:
        out[ARGS_KEY] = " ".join(rest)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def expand(pr: Project, job: J.Job, only: "set[int] | None" = None) -> "list[Run]":
    """The runs of one job: the job itself, or its sweep's tasks (``only`` these)."""
    res = pr.results_dir(job)
    sweep = read_sweep(job)
    if sweep is None:
        return [Run(job.id, job, None, parse_args(job.args), job.args, res,
                    os.path.join(job.path, P.OUT), job.status, job.start, job.end)]
    runs = []
    for r in sweep["runs"]:
        task = int(r["task"])
        if only is not None and task not in only:
            continue
        d = os.path.join(res, RUNS_DIR, str(task))
        state, start, end = task_state(job, task)
        params = {str(k): str(v) for k, v in (r.get("values") or {}).items()}
        runs.append(Run(f"{job.id}_{task}", job, task, params, [str(a) for a in r.get("args", [])],
                        d, os.path.join(d, P.OUT), state, start, end))
    if only:
        missing = sorted(only - {r.task for r in runs})
        if missing:
            raise GruntError(f"sweep {job.id} has no task {', '.join(map(str, missing))}")
    return runs


def select(pr: Project, words: "list[str]") -> "list[Run]":
    """The runs named by ``words``: job ids, ranges, ``<jobid>_<task>``; none: the
    active jobs.  From the laptop's copies only (no fetch)."""
    known = {j.id: j for j in jobcache.scan(pr.jobs)}
    if not words:
        jobs = [(j, None) for j in known.values() if j.folder == "active"]
    else:
        jobs = _named(pr, known, words)
    runs: "list[Run]" = []
    for job, only in jobs:
        runs.extend(expand(pr, job, only))
    return runs


def _named(pr: Project, known: "dict[str, J.Job]", words: "list[str]"):
    prefix = pr.id_prefix()
    picked: "dict[str, set[int] | None]" = {}
    missing = []
    for word in words:
        for item in filter(None, word.split(",")):
            m = _RUN_RE.match(item)
            task = int(m.group(2)) if m and ".." not in item else None
            ids = J.parse_ids([m.group(1) if task is not None else item], prefix)
            got = [i for i in ids if i in known]
            if not got:
                missing.append(ids[0] if len(ids) == 1 else item)
            for i in got:
                if task is None:
                    picked[i] = None
                elif i not in picked or picked[i] is not None:
                    picked.setdefault(i, set()).add(task)   # type: ignore[union-attr]
    if missing:
        raise GruntError(f"no such job in the laptop's copy of {pr.proj}: {', '.join(missing)} "
                         f"(grunt pull fetches new jobs)")
    if not picked:
        raise UsageError("which runs? give job ids, e.g. 12, abc000011..22 or abc000012_3")
    return [(known[i], only) for i, only in picked.items()]


def differing(runs: "list[Run]") -> "list[str]":
    """The parameters whose values are not the same in every run, in first-seen order."""
    keys: "dict[str, None]" = {}
    for r in runs:
        for k in r.params:
            keys.setdefault(k, None)
    return [k for k in keys if len({r.params.get(k) for r in runs}) > 1]
