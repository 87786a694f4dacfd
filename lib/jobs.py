"""A job record read from its directory, its state, listing, job id expressions."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from . import protocol as P
from .errors import UsageError

# States shown to the user.
PENDING, RUNNING, DONE, FAILED, CANCELED = "Pending", "Running", "Done", "Failed", "Canceled"
TIMEOUT, OUT_OF_MEMORY = "Timeout", "OutOfMemory"
FINISHED = {DONE, FAILED, CANCELED, TIMEOUT, OUT_OF_MEMORY}

# Scheduler vocabulary (job.status first word) -> state
_SCHED = {
    "PENDING": PENDING, "CONFIGURING": PENDING, "REQUEUED": PENDING, "SUSPENDED": PENDING,
    "RUNNING": RUNNING, "COMPLETING": RUNNING,
    "COMPLETED": DONE,
    "FAILED": FAILED, "NODE_FAIL": FAILED, "BOOT_FAIL": FAILED, "DEADLINE": FAILED,
    "PREEMPTED": FAILED,
    "CANCELLED": CANCELED, "CANCELED": CANCELED,
    "TIMEOUT": TIMEOUT, "OUT_OF_MEMORY": OUT_OF_MEMORY,
}


def _int(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def _line(text: str | None) -> str:
    return text.strip().splitlines()[0].strip() if text and text.strip() else ""


def derive_state(files: dict[str, str]) -> tuple[str, int | None, str]:
    """(state, exit code, scheduler detail) from the texts of one job's or task's files.

    ``files`` maps short names (start, end, exitcode, status, canceled, error)
    to file contents.  The job's own records come first: they stay true after
    the scheduler has forgotten the job.
    """
    status = _line(files.get("status"))
    word = status.split(" ", 1)[0].upper() if status else ""
    sched = _SCHED.get(word)
    code = _int(files.get("exitcode"))
    if "error" in files:
        return FAILED, code, _line(files["error"])
    if "canceled" in files or sched == CANCELED:
        return CANCELED, code, status
    if sched in (TIMEOUT, OUT_OF_MEMORY):
        return sched, code, status
    if "end" in files:
        if code is None:
            return (sched if sched in (FAILED, DONE) else DONE), code, status
        return (DONE if code == 0 else FAILED), code, status
    if sched in (FAILED, DONE):
        return sched, code, status
    if "start" in files or sched == RUNNING:
        return RUNNING, code, status
    return PENDING, code, status


@dataclass
class Task:
    index: int
    status: str
    exit_code: int | None
    start: str
    end: str


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

    @property
    def number(self) -> int:
        return int(self.id[3:])

    def as_json(self) -> dict:
        return {"id": self.id, "server": self.server, "folder": self.folder,
                "status": self.status, "sched_id": self.sched_id, "submit": self.submit,
                "start": self.start, "end": self.end, "args": self.args,
                "message": self.message, "exit_code": self.exit_code}


def load(path: str, jobid: str, proj: str, folder: str) -> Job:
    """Read one job directory.  Only files that exist are opened."""
    try:
        names = [e.name for e in os.scandir(path) if e.name.startswith("job.")]
    except FileNotFoundError:
        names = []
    texts: dict[str, str] = {}
    for name in names:
        t = P.read_text(os.path.join(path, name))
        if t is not None:
            texts[name] = t
    job = Job(id=jobid, proj=proj, folder=folder, path=path)
    job.server = _line(texts.get(P.SERVER))
    job.message = (texts.get(P.MESSAGE) or "").strip()
    job.submit = _line(texts.get(P.SUBMIT))
    args = texts.get(P.ARGS)
    job.args = args[:-1].split("\n") if args and args.endswith("\n") else (args.split("\n") if args else [])
    job.sched_id = _line(texts.get(P.SLURMID)) or _line(texts.get(P.PID))
    job.parent = _line(texts.get(P.PARENT))
    own = {k[4:]: v for k, v in texts.items()
           if k in (P.START, P.END, P.EXITCODE, P.STATUS, P.CANCELED, P.ERROR)}
    job.interrupted = [ln.split()[-1] for ln in (texts.get(P.INTERRUPTED) or "").splitlines()
                       if ln.strip()]
    job.start = _line(own.get("start"))
    job.end = _line(own.get("end"))
    if P.ARRAY in texts:
        _load_tasks(job, texts, own)
    else:
        job.status, job.exit_code, job.detail = derive_state(own)
    return job


def _load_tasks(job: Job, texts: dict[str, str], own: dict[str, str]) -> None:
    """An array job: per-task states, and the job's state summed up from them."""
    per: dict[int, dict[str, str]] = {}
    for name, text in texts.items():
        m = P.TASK_FILE_RE.match(name)
        if m and m.group(2) != "out":
            per.setdefault(int(m.group(1)), {})[m.group(2)] = text
    for idx in P.array_tasks(_line(texts.get(P.ARRAY))):
        per.setdefault(idx, {})
    for idx in sorted(per):
        files = dict(per[idx])
        for k in ("canceled", "error"):
            if k in own:
                files[k] = own[k]
        st, code, _ = derive_state(files)
        job.tasks.append(Task(idx, st, code, _line(files.get("start")), _line(files.get("end"))))
    states = [t.status for t in job.tasks]
    whole, code, job.detail = derive_state(own)
    if not states or whole in (FAILED, CANCELED) and ("error" in own or "canceled" in own):
        job.status, job.exit_code = whole, code
        return
    if any(s == RUNNING for s in states):
        job.status = RUNNING
    elif any(s == PENDING for s in states):
        job.status = RUNNING if any(s in FINISHED for s in states) else PENDING
    else:
        bad = [t for t in job.tasks if t.status != DONE]
        job.status = bad[0].status if bad else DONE
    codes = [t.exit_code for t in job.tasks if t.exit_code is not None]
    job.exit_code = next((c for c in codes if c != 0), codes[0] if codes else None) \
        if job.status in FINISHED else None
    starts = [t.start for t in job.tasks if t.start]
    ends = [t.end for t in job.tasks if t.end]
    job.start = job.start or (min(starts) if starts else "")
    job.end = job.end or (max(ends) if ends and job.status in FINISHED else "")


def is_job_id(name: str) -> bool:
    """A job's id; number 0 (``abc000000``) is the control directory, not a job."""
    m = P.JOBID_RE.match(name)
    return bool(m) and int(m.group(2)) != 0


def scan(wc: str, folders: tuple[str, ...] = P.FOLDERS) -> list[Job]:
    """Every job in a jobs working copy, sorted by id (control directories left out)."""
    found = []
    for folder in folders:
        base = os.path.join(wc, folder)
        try:
            ids = [e.name for e in os.scandir(base) if e.is_dir() and is_job_id(e.name)]
        except FileNotFoundError:
            continue
        for jid in ids:
            for e in os.scandir(os.path.join(base, jid)):
                if e.is_dir() and P.PROJ_RE.match(e.name):
                    found.append(load(e.path, jid, e.name, folder))
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
