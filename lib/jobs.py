"""A job as grunt lists and shows it: its record read from its directory, and
job id expressions.  The states themselves are gruntlib/states.py's."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import UsageError
from .gruntlib import protocol as P, states
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

    @property
    def number(self) -> int:
        return int(self.id[3:])

    @property
    def where(self) -> P.JobPath:
        return P.JobPath(self.folder, self.id, self.proj)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def as_json(self) -> dict:
        return {"id": self.id, "server": self.server, "folder": self.folder,
                "status": self.status, "sched_id": self.sched_id, "submit": self.submit,
                "start": self.start, "end": self.end, "args": self.args,
                "message": self.message, "exit_code": self.exit_code}


def load(top: str, where: P.JobPath) -> Job:
    """Read one job directory of working copy ``top``.  Only files that exist are opened."""
    path = where.under(top)
    texts = JobDir(path).texts()
    line = states.first_line
    spec = line(texts.get(P.ARRAY))
    st = states.job_state(texts, P.array_tasks(spec) if spec else None)
    args = texts.get(P.ARGS)
    return Job(
        id=where.jobid, proj=where.proj, folder=where.folder, path=path,
        server=line(texts.get(P.SERVER)), message=(texts.get(P.MESSAGE) or "").strip(),
        submit=line(texts.get(P.SUBMIT)),
        args=args[:-1].split("\n") if args and args.endswith("\n") else (args.split("\n") if args else []),
        sched_id=next((line(texts[n]) for n in (*P.SCHEDULER_IDS, P.PID) if texts.get(n)), ""),
        parent=line(texts.get(P.PARENT)),
        interrupted=[ln.split()[-1] for ln in (texts.get(P.INTERRUPTED) or "").splitlines()
                     if ln.strip()],
        unconfirmed=texts.get(P.UNCONFIRMED, ""),
        status=st.status, exit_code=st.exit_code, detail=st.detail, start=st.start, end=st.end,
        tasks=list(st.tasks))


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


def _one(text: str, prefix: str, whole: str) -> tuple[str, int]:
    text = text.strip()
    m = re.fullmatch(r"([a-z]{3})?(\d{1,6})", text)
    if not m:
        raise UsageError(f"not a job id: '{whole}' (expected e.g. abc000012, 12 or abc000011..22)")
    return (m.group(1) or prefix), int(m.group(2))
