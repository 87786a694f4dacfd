"""Retries of the tasks of a sweep or array job, in rounds.

The job runs its tasks (round 1); once every task of the round has ended,
grund decides on each task that ran in it (``retry.decide``, with that task's
own earlier attempts) and writes every decision at once to job.attempts: one
line per attempt of a task that is retried or was retried before (``"task"``),
then one line for the round (``"round"``, the tasks ``retried``).  Then, as for
a single job (retries.py): the retried tasks' files become
``job.<T>.try<N>.*``, the round's own files ``job.try<N>.*``, and job.attempt
names round N+1 with its ``tasks``; its submit (grunter.py submit, exactly
once) runs only those tasks.  Every task of round N is on its attempt N, so
a round has one attempt number; its resources are, setting by setting, the
largest any of its tasks' rules asks for.
"""
import json
import os

from ..gruntlib import protocol as P, retry
from ..gruntlib.jobdir import JobDir

TASK_FILES = ("start", "end", "exitcode", "status", "out")


def rounds(hist: "list[dict]") -> "list[dict]":
    return [r for r in hist if "round" in r and "task" not in r]


def task_records(hist: "list[dict]", task: int) -> "list[dict]":
    return [r for r in hist if r.get("task") == task]


def round_tasks(job: JobDir, n: int, hist: "list[dict]") -> "list[int]":
    """The tasks that run in round ``n``: all of them in the first, then those retried."""
    if n <= 1:
        return job.units()
    done = rounds(hist)
    return list(done[n - 2].get("retried") or []) if len(done) >= n - 1 else []


def decided(hist: "list[dict]", n: int) -> "dict | None":
    """The record of round ``n`` once grund has decided on it."""
    done = rounds(hist)
    return done[n - 1] if len(done) >= n else None


def settled(job: JobDir, n: int, hist: "list[dict]") -> bool:
    return all(job.settled(t) for t in round_tasks(job, n, hist))


def _merged(nexts: "list[dict]") -> dict:
    """The round's resources: per setting the largest any task's decision asks for."""
    out = {}
    for nxt in nexts:
        for name, value in nxt.items():
            parse = retry._KINDS[name][0]
            if name not in out or parse(value) > parse(out[name]):
                out[name] = value
    return out


def decide(job: JobDir, n: int, hist: "list[dict]", pol: dict) -> dict:
    """Decide on every task of round ``n``, all recorded in one write; the round's record."""
    used = pol.get("resources") or {}
    keep = [r for r in hist if int(r.get("attempt") or 0) < n]   # redone: drop a half one
    lines, retried, nexts, most = [], [], [], 1
    st = job.state()
    words = {t.index: t.status for t in st.tasks}   # as the user sees them: Failed, Timeout
    for t in round_tasks(job, n, hist):
        word = (job.status(t) or ("", ""))[0].upper()
        d = retry.decide(pol.get("policy") or {}, task_records(keep, t), word, used)
        most = max(most, d.max)
        if d.resources is not None:
            retried.append(t)
            nexts.append(d.resources)
        if d.resources is not None or n > 1:
            lines.append({"task": t, "attempt": n, "state": word, "status": words.get(t, ""),
                          "exitcode": job.exitcode(t),
                          "start": job.read(P.task_file(t, "start")) or "",
                          "end": job.read(P.task_file(t, "end")) or "", "resources": used,
                          "next": d.resources, "max": d.max, "why": d.why})
    rec = {"round": n, "attempt": n, "retried": retried, "status": st.status,
           "exitcode": st.exit_code, "decided": P.now_ts(), "max": most,
           "next": _merged(nexts) if retried else None,
           "sched_id": job.read(P.SLURMID) or job.read(P.PID) or "",
           "why": f"round {n}: {len(retried)} task(s) retried" if retried else
                  f"round {n}: no task retried"}
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep + lines + [rec])
    P.write_atomic(job.file(P.ATTEMPTS), text)
    job.log(rec["why"] + (f" ({' '.join(map(str, retried))})" if retried else ""))
    return rec


def archive(job: JobDir, rec: dict) -> None:
    """The retried tasks' files and the round's own become job.<T>.try<N>.* and
    job.try<N>.*; then job.attempt names round N+1 and its tasks (each step redone
    until that last write, each atomic)."""
    n = rec["round"]
    for t in rec.get("retried") or []:
        for name in TASK_FILES:
            if job.has(P.task_file(t, name)):
                os.replace(job.file(P.task_file(t, name)),
                           job.file(P.task_attempt_file(t, n, name)))
        if job.has(f".job.{t}.pid"):
            os.unlink(job.file(f".job.{t}.pid"))
    for name in P.ATTEMPT_FILES + (P.CHUNKS,):
        if job.has(name):
            os.replace(job.file(name), job.file(P.attempt_file(n, name)))
    P.write_atomic(job.file(P.ATTEMPT), json.dumps(
        {"attempt": n + 1, "max": rec["max"], "resources": rec["next"],
         "tasks": rec.get("retried") or []}, sort_keys=True) + "\n")
