"""Retries: grund runs a job again when an attempt ends the way its policy names,
from the stored snapshot, without the laptop.

A job whose grunter wrote ``job.retry`` (its policy and this attempt's
resources, gruntlib/settings.py) goes through these phases, each known from
the job's files alone, so a grund killed at any point goes on where it was::

    running --final end--> ended --decide, a line in job.attempts--> retrying | closed
    retrying --attempt N's files renamed job.try<N>.*, then job.attempt = N+1--> to-submit
    to-submit --grunter.py submit, exactly once (grunter.Call)--> running

The decision is written before anything is done about it; the renames are
redone (each is atomic) until job.attempt says the next attempt exists; the
submit is the one of grunter.py's ``Call`` bookkeeping, which a restarted grund
finishes instead of running again.  ``decide`` (gruntlib/retry.py) is pure.
A sweep or array job goes through the same phases in rounds, each task
decided on with its own attempts (taskretries.py).
"""
import json
import logging
import os
from typing import Callable

from ..gruntlib import protocol as P, retry
from ..gruntlib.jobdir import JobDir
from ..gruntlib.states import FINAL, first_line
from . import taskretries

log = logging.getLogger("grund")
NONE, RUNNING, ENDING, ENDED, RETRYING, TO_SUBMIT, CLOSED = (
    "none", "running", "ending", "ended", "retrying", "to-submit", "closed")


def _json(job: JobDir, name: str) -> "dict | None":
    try:
        data = json.loads(job.read(name) or "null")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def history(job: JobDir) -> "list[dict]":
    """The ended attempts, as job.attempts records them (one JSON line each)."""
    return retry.records(job.read(P.ATTEMPTS))


def current(job: JobDir) -> dict:
    """The attempt now on: {"attempt": N, "max": M, "resources": {...}}."""
    rec = _json(job, P.ATTEMPT) or {}
    rec["attempt"] = retry.attempt_of(job.read(P.ATTEMPT))
    return rec


def _word(job: JobDir) -> str:
    return first_line(job.read(P.STATUS)).split(" ", 1)[0].upper()


def phase(job: JobDir) -> str:
    """Where the job is in its retries (see the module's text)."""
    if not job.has(P.RETRY):
        return NONE     # no policy
    n, hist, array = current(job)["attempt"], history(job), job.tasks() is not None
    if array:
        rec = taskretries.decided(hist, n)
        if rec is not None:
            return RETRYING if rec.get("retried") else CLOSED
    elif len(hist) >= n:
        return RETRYING if hist[n - 1].get("next") else CLOSED
    if job.has(P.ERROR) or job.has(P.CANCELED):
        return CLOSED   # canceled (also while a retry waited to be submitted), or refused
    if not job.submitted():
        return TO_SUBMIT if n > 1 else RUNNING
    if not job.at_rest():
        return RUNNING
    if array:
        return ENDED if taskretries.settled(job, n, hist) else ENDING
    return ENDED if _word(job) in FINAL else ENDING


def is_open(job: JobDir) -> bool:
    """grund still has something to do or to wait for."""
    return phase(job) not in (NONE, CLOSED)


def _decide(job: JobDir) -> dict:
    """Decide on the ended attempt and record it first (atomically): the record."""
    n = current(job)["attempt"]
    pol = _json(job, P.RETRY) or {}
    if job.tasks() is not None:
        return taskretries.decide(job, n, history(job), pol)
    hist = history(job)[:n - 1]
    used = pol.get("resources") or {}
    word = _word(job)
    d = retry.decide(pol.get("policy") or {}, hist, word, used)
    st = job.state()
    rec = {"attempt": n, "state": word, "status": st.status, "exitcode": st.exit_code,
           "start": st.start, "end": st.end,
           "sched_id": job.read(P.SLURMID) or job.read(P.PID) or "",
           "resources": used, "decided": P.now_ts(), "next": d.resources, "max": d.max,
           "why": d.why}
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in hist + [rec])
    P.write_atomic(job.file(P.ATTEMPTS), text)
    job.log(f"attempt {n} ended {word}: " + (f"retried, {d.why}" if d.resources else d.why))
    return rec


def _archive(job: JobDir, rec: dict) -> None:
    """Attempt N's files become job.try<N>.*; then job.attempt names attempt N+1."""
    n = rec["attempt"]
    for name in P.ATTEMPT_FILES:
        if job.has(name):
            os.replace(job.file(name), job.file(P.attempt_file(n, name)))
    P.write_atomic(job.file(P.ATTEMPT), json.dumps(
        {"attempt": n + 1, "max": rec["max"], "resources": rec["next"]}, sort_keys=True) + "\n")


def advance(job: JobDir, status: "Callable[[JobDir], object]",
            submit_once: "Callable[[JobDir], object]",
            ended: "Callable[[JobDir, dict], None]") -> bool:
    """Take the job's retries as far as they go now; True when anything changed.

    ``status``: ask the scheduler (an attempt that ended before the scheduler
    said how); ``submit_once``: the next attempt's submit; ``ended``: told of
    each decision (the end hook).
    """
    changed = False
    for _ in range(8):   # a few phases a call; each step is one of them
        ph = phase(job)
        if ph == ENDING:
            status(job)
            if phase(job) == ENDING:
                return changed
            continue
        if ph == ENDED:
            ended(job, _decide(job))
        elif ph == RETRYING and job.tasks() is not None:
            n = current(job)["attempt"]
            taskretries.archive(job, taskretries.decided(history(job), n))
        elif ph == RETRYING:
            _archive(job, history(job)[current(job)["attempt"] - 1])
        elif ph == TO_SUBMIT:
            log.info("%s: attempt %s", job.jobid, current(job)["attempt"])
            submit_once(job)
            return True
        else:
            return changed
        changed = True
    return changed

