"""What grund does each round for jobs that wait on something, without the laptop:
jobs held until another ends (``grunt submit --after``), and retries (retries.py).

A held job (``job.after``: ``<jobid>[:ok|any|notok]``, ok when left out) is not
handed to the scheduler until its parent has ended for good (every retry of
it done); then it is submitted, or canceled with the reason when the parent
ended the wrong way.  grund decides from the parent's files, never through the
scheduler's ``afterok``, which refuses a parent that already left the queue.
"""
import logging
import os
from typing import Callable

from ..gruntlib import protocol as P
from ..gruntlib.jobdir import JobDir
from ..gruntlib.states import DONE, FINISHED
from . import retries

log = logging.getLogger("grund")
WAIT, GO = "wait", "go"


def after(job: JobDir) -> "tuple[str, str] | None":
    """(parent id, ok|any|notok) from job.after; None when the job waits on nothing."""
    m = P.AFTER_RE.match((job.read(P.AFTER) or "").strip())
    return (m.group(1), m.group(2) or "ok") if m else None


def held(job: JobDir) -> bool:
    """Waiting for its parent: it has job.after and was neither submitted nor canceled."""
    return job.has(P.AFTER) and not job.submitted() and not job.has(P.CANCELED)


def verdict(job: JobDir, top: str) -> str:
    """WAIT, GO, or the reason to cancel the held job."""
    dep = after(job)
    if dep is None:
        return f"job.after is not <jobid>[:ok|any|notok]: {job.read(P.AFTER)!r}"
    pid, kind = dep
    where = P.locate(top, pid, job.where.proj)
    if where is None:
        return f"its parent {pid} is gone"
    parent = JobDir(where.under(top))
    st = parent.state().status
    if st not in FINISHED or retries.is_open(parent) or parent.has(P.AFTER) and held(parent):
        return WAIT
    good = st == DONE
    if kind == "any" or (kind == "ok") == good:
        return GO
    return f"its parent {pid} ended {st} (it was to run after {pid}:{kind})"


def release(job: JobDir, top: str, submit_once: "Callable[[JobDir], object]",
            ended: "Callable[[JobDir, dict], None]") -> bool:
    """Submit or cancel a held job whose parent has ended; True when it changed."""
    v = verdict(job, top)
    if v == WAIT:
        pid, kind = after(job) or ("?", "ok")
        line = f"PENDING after {pid}:{kind}"
        if job.read(P.STATUS) != line:
            job.write(P.STATUS, line)
            job.log(f"held until {pid} ends ({kind})")
            return True
        return False
    if v == GO:
        job.log(f"released: {after(job)[0]} has ended")
        if job.has(P.STATUS):
            os.unlink(job.file(P.STATUS))
        submit_once(job)
        return True
    log.info("%s: canceled: %s", job.jobid, v)
    job.log(f"canceled: {v}")
    job.write(P.CANCELED, P.now_ts())
    job.write(P.STATUS, f"CANCELLED {v}")
    ended(job, {"status": "Canceled", "exitcode": None})
    return True


def waiting(job: JobDir) -> bool:
    """Something for follow_up to do or wait for (cheap: stats first)."""
    return (job.has(P.AFTER) and held(job)) or (job.has(P.RETRY) and retries.is_open(job))


def follow_up(top: str, submit_once: "Callable[[JobDir], object]",
              status: "Callable[[JobDir], object]",
              ended: "Callable[[JobDir, dict], None]") -> "list[JobDir]":
    """One pass over the active jobs that wait: held ones, retries; the jobs changed."""
    changed = []
    for where in P.job_dirs(top, ("active",)):
        job = JobDir(where.under(top))
        if not (job.has(P.AFTER) or job.has(P.RETRY)):
            continue
        did = False
        if held(job):
            did = release(job, top, submit_once, ended)
        if job.has(P.RETRY) and retries.is_open(job):
            did = retries.advance(job, status, submit_once, ended) or did
        if did:
            changed.append(job)
    return changed


def unfinished_jobs(wc: str) -> "list[str]":
    """Active jobs still waiting for their end, as paths relative to ``wc``.

    Stats; a job's files are read only when it has no job.end.
    """
    out = []
    for where in P.job_dirs(wc, ("active",)):
        job = JobDir(where.under(wc))
        if (not job.has(P.END) and job.state().status not in FINISHED) or waiting(job):
            out.append(where.rel)
    return out
