"""A job as grunt lists and shows it: its record read from its directory, and
job id expressions.  The states themselves are gruntlib/states.py's."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .errors import UsageError
from .gruntlib import protocol as P, retry, states, sweep as SW
from .gruntlib.jobdir import JobDir
from .gruntlib.states import (CANCELED, DONE, FAILED, FINISHED, OUT_OF_MEMORY,  # noqa: F401
                              PENDING, RUNNING, TIMEOUT, derive_state)

Task = states.TaskState


@dataclass
class Job:
    id: str
    proj: str
    folder: str
    path: str
    server: str = ""
    status: str = PENDING
    detail: str = ""
    sched_id: str = ""
    submit: str = ""
    start: str = ""
    end: str = ""
    args: list[str] = field(default_factory=list)
    message: str = ""
    exit_code: int | None = None
    tasks: list[Task] = field(default_factory=list)
    parent: str = ""
    interrupted: list[str] = field(default_factory=list)  # commands grund gave up on
    unconfirmed: str = ""   # grunter.py submit ended well but left no sign of a job: its output
    labels: list[str] = field(default_factory=list)   # a sweep's runs: lr=0.1 seed=3, by task
    task: int | None = None   # the one run named by <jobid>_<task>, not cached
    attempt: int = 1        # the attempt now on (grund retries, job.attempt)
    attempts_max: int = 1   # the attempts its retry rule allows
    attempts: list[dict] = field(default_factory=list)  # ended attempts (job.attempts)
    after: str = ""         # held until this job ends: <jobid>:<ok|any|notok>
    deciding: bool = False  # ended, and grund has yet to decide on a retry (job.retry)

    @property
    def number(self) -> int:
        return int(self.id[3:])

    @property
    def where(self) -> P.JobPath:
        return P.JobPath(self.folder, self.id, self.proj)

    @property
    def finished(self) -> bool:
        """Its state can no longer change (an attempt that may be retried can)."""
        return self.status in FINISHED and not self.deciding

    @property
    def is_sweep(self) -> bool:
        return bool(self.labels)

    def counts(self) -> str:
        """``15 tasks: 12 Done, 2 Failed, 1 Timeout`` (states in order of first appearance)."""
        words = [t.status for t in self.tasks]
        each = ", ".join(f"{words.count(s)} {s}" for s in dict.fromkeys(words))
        return f"{len(words)} tasks: {each}"

    def label(self, task: int) -> str:
        return self.labels[task] if 0 <= task < len(self.labels) else ""

    def as_json(self) -> dict:
        d = {"id": self.id, "server": self.server, "folder": self.folder,
             "status": self.status, "sched_id": self.sched_id, "submit": self.submit,
             "start": self.start, "end": self.end, "args": self.args,
             "message": self.message, "exit_code": self.exit_code,
             # only for jobs that have them: retried, held (--after)
             **({"attempt": self.attempt, "attempts": self.attempts}
                if self.attempt > 1 or self.attempts else {}),
             **({"after": self.after} if self.after else {})}
        if self.is_sweep:
            d["tasks"] = [{"id": f"{self.id}_{t.index}", "task": t.index, "label": self.label(t.index),
                           "status": t.status, "exit_code": t.exit_code, "start": t.start,
                           "end": t.end, **self._task_attempts(t.index)} for t in self.tasks]
        return d

    def _task_attempts(self, task: int) -> dict:
        n, most = self.task_attempt(task)
        return {"attempt": n, "attempts_max": most} if n > 1 else {}

    @property
    def attempt_label(self) -> str:
        """`` (attempt 2 of 3)`` once grund has retried the job, else "" (an array's
        attempts are its tasks': task_label)."""
        if self.tasks:
            return ""
        return f" (attempt {self.attempt} of {self.attempts_max})" if self.attempt > 1 else ""

    def task_attempt(self, task: int) -> tuple[int, int]:
        """(the attempt task ``task`` is on, the attempts its rule allows)."""
        recs = [r for r in self.attempts if r.get("task") == task]
        return (1 + sum(1 for r in recs if r.get("next")),
                max([int(r.get("max") or 1) for r in recs] or [1]))

    def task_label(self, task: int) -> str:
        """`` (attempt 2 of 3)`` once grund has retried the task, else ""."""
        n, most = self.task_attempt(task)
        return f" (attempt {n} of {most})" if n > 1 else ""


def load(top: str, where: P.JobPath) -> Job:
    """Read one job directory of working copy ``top``.  Only files that exist are opened."""
    path = where.under(top)
    texts = JobDir(path).texts()
    line = states.first_line
    spec = line(texts.get(P.ARRAY))
    labels = _labels(texts.get(P.SWEEP))
    tasks = P.array_tasks(spec) if spec else (list(range(len(labels))) if labels else None)
    st = states.job_state(texts, tasks)
    args = texts.get(P.ARGS)
    cur = (retry.records(texts.get(P.ATTEMPT)) or [{}])[0]
    attempts = retry.records(texts.get(P.ATTEMPTS))
    deciding = (P.RETRY in texts and not spec and st.status in (FAILED, TIMEOUT, OUT_OF_MEMORY)
                and P.ERROR not in texts and len(attempts) < int(cur.get("attempt") or 1)) \
        or (bool(spec) and _array_deciding(texts, st, attempts, int(cur.get("attempt") or 1)))
    return Job(
        id=where.jobid, proj=where.proj, folder=where.folder, path=path,
        server=line(texts.get(P.SERVER)), message=(texts.get(P.MESSAGE) or "").strip(),
        submit=line(texts.get(P.SUBMIT)),
        args=args[:-1].split("\n") if args and args.endswith("\n") else (args.split("\n") if args else []),
        # a grunter may record several scheduler jobs (setup, array, cleanup): all of them
        sched_id=",".join(next(((texts.get(n) or "").split() for n in P.SCHEDULER_IDS if texts.get(n)), []))
        or line(texts.get(P.PID)),
        parent=line(texts.get(P.PARENT)),
        interrupted=[ln.split()[-1] for ln in (texts.get(P.INTERRUPTED) or "").splitlines()
                     if ln.strip()],
        unconfirmed=texts.get(P.UNCONFIRMED, ""),
        status=st.status, exit_code=st.exit_code, detail=st.detail, start=st.start, end=st.end,
        tasks=list(st.tasks), labels=labels, attempt=int(cur.get("attempt") or 1),
        attempts_max=int(cur.get("max") or 1), attempts=attempts, deciding=deciding,
        after=line(texts.get(P.AFTER)))


def _array_deciding(texts: dict, st: states.JobState, attempts: list[dict], n: int) -> bool:
    """An array that grund retries task by task (server/taskretries.py) has ended a
    round with a task that is not Done, and grund has yet to decide on it."""
    if P.RETRY not in texts or st.status not in FINISHED or P.ERROR in texts \
            or P.CANCELED in texts or P.SGEID in texts or P.attempt_file(1, P.SGEID) in texts:
        return False
    if not any(t.status not in (DONE, CANCELED) for t in st.tasks):
        return False
    return len([r for r in attempts if "round" in r and "task" not in r]) < n


def _labels(text: str | None) -> list[str]:
    """The labels of a sweep's runs, by task; [] for a job that is not a sweep."""
    if not text:
        return []
    try:
        return [SW.label(r) or f"run {r['task']}" for r in SW.check(json.loads(text))["runs"]]
    except (ValueError, KeyError, TypeError):
        return []


def scan(top: str, folders: tuple[str, ...] = P.FOLDERS) -> list[Job]:
    """Every job in a jobs working copy, sorted by id (control directories left out)."""
    found = [load(top, where) for where in P.job_dirs(top, folders)]
    found.sort(key=lambda j: (j.id[:3], j.number))
    return found


def parse_ids(words: list[str], prefix: str) -> list[str]:
    """Job id expressions -> ids, in the order given, duplicates dropped.

    ``abc000012`` an id; ``12`` the user's job 12; ``abc000011..22`` or
    ``11..abc000022`` a range, end inclusive; commas separate items too.
    """
    out: list[str] = []
    for word in words:
        for item in filter(None, word.split(",")):
            if ".." in item:
                a, b = item.split("..", 1)
                pa, na = _one(a, prefix, item)
                pb, nb = _one(b, pa, item)
                if pb != pa:
                    raise UsageError(f"range '{item}' spans two prefixes")
                if nb < na:
                    raise UsageError(f"range '{item}' ends before it starts")
                if nb - na > 100000:
                    raise UsageError(f"range '{item}' is too large")
                ids = [P.format_jobid(pa, n) for n in range(na, nb + 1)]
            else:
                pa, na = _one(item, prefix, item)
                ids = [P.format_jobid(pa, na)]
            out.extend(i for i in ids if i not in out)
    return out


def split_run(word: str) -> tuple[str, int | None]:
    """``abc000012_3`` (run 3 of a sweep, task 3 of an array) -> (``abc000012``, 3)."""
    m = re.fullmatch(r"([a-z]{0,3}\d{1,6})_(\d+)", word.strip())
    return (m.group(1), int(m.group(2))) if m else (word, None)


def _one(text: str, prefix: str, whole: str) -> tuple[str, int]:
    text = text.strip()
    m = re.fullmatch(r"([a-z]{3})?(\d{1,6})", text)
    if not m:
        raise UsageError(f"not a job id: '{whole}' (expected e.g. {prefix}000012, 12 or "
                         f"{prefix}000011..22)")
    return (m.group(1) or prefix), int(m.group(2))
