"""The Slurm engine: job.sbatch and sbatch, status from one squeue a round, scancel.

Where a job's state comes from, in order:

1. The job's own files.  The batch script (``script.job_script``) writes
   job.start, job.end and job.exitcode itself; a unit (the job, or one array
   task) whose status is final and whose end is recorded is not asked about
   again.
2. One ``squeue -t all -u USER`` for all the user's jobs, kept a few seconds in
   the jobs working copy's .git directory, so that every ``status`` of one
   grund round shares it.  A snapshot older than the job's own latest file is
   not trusted for that job (it may predate the submission or the end).
3. ``scontrol show job`` for the exit code of a unit that the scheduler ended
   before its script could record one (SIGKILL after the time limit, OOM).
4. Once MinJobAge has passed, squeue no longer knows the job: ``sacct``
   (needs slurmdbd), else the jobcomp text file (JobCompType=jobcomp/filetxt)
   read directly, because ``sacct -c`` fails for ordinary users and does not
   understand arrays.  Its exit codes are right for COMPLETED and FAILED only
   (CANCELLED and TIMEOUT always say 0:0).
"""
import os
import re
import subprocess
import sys
import time
from typing import BinaryIO, Callable, Iterator, NamedTuple

from . import engine, protocol, states, sweep as sweep_mod
from .jobdir import JobDir, Outcome, RunnerError, ended
from .script import job_script
from .settings import SBATCH_OPTIONS

SQUEUE_FORMAT = "%F|%K|%A|%T|%e|%r"
SUBMITTED_RE = re.compile(r"Submitted batch job (\d+)")
EXITCODE_RE = re.compile(r"(?:^|\s)ExitCode=(\d+):(\d+)")
JOBCOMP_FIELD_RE = re.compile(r"(?:^| )(JobId|JobState|EndTime|ExitCode|ArrayJobId|ArrayTaskId)=(\S*)")
JOBCOMP_SCAN_LIMIT = 64 << 20      # bytes read from the end of the jobcomp file
JOBCOMP_CHUNK = 1 << 16

# squeue states outside job.status's vocabulary: the state written instead; the
# original becomes the reason.
_STATE_MAP = {
    "CONFIGURING": "PENDING", "REQUEUED": "PENDING", "REQUEUE_HOLD": "PENDING",
    "REQUEUE_FED": "PENDING", "RESV_DEL_HOLD": "PENDING", "SUSPENDED": "RUNNING",
    "STOPPED": "RUNNING", "RESIZING": "RUNNING", "SIGNALING": "RUNNING",
    "STAGE_OUT": "COMPLETING", "SPECIAL_EXIT": "FAILED", "REVOKED": "CANCELLED",
}


def _user() -> str:
    return engine.user()


def _run(argv: "list[str]", cwd: "str | None" = None,
         env: "dict[str, str] | None" = None) -> subprocess.CompletedProcess:
    return engine.run(argv, cwd, "Slurm", env)


_message = engine.message


def _exitcode(code: str, signal: str) -> int:
    """Slurm's ``code:signal`` as one exit code: 128+N when killed by signal N."""
    return 128 + int(signal) if int(signal) else int(code)


def _timestamp(slurm_time: str) -> "str | None":
    """Slurm's local ``2024-05-01T12:00:00`` as a protocol timestamp (UTC)."""
    try:
        epoch = time.mktime(time.strptime(slurm_time, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    return time.strftime(protocol.TS_FORMAT, time.gmtime(epoch))


def _round(job: JobDir, spec: "str | None") -> "str | None":
    """The array spec to submit: in a round of retries (job.attempt's tasks) only
    those tasks, as a list keeping the spec's %K."""
    retried = sweep_mod.retried_tasks(job) if spec else None
    if not retried:
        return spec
    limit = spec.partition("%")[2]
    return ",".join(map(str, retried)) + (f"%{limit}" if limit else "")


def sbatch_header(job: JobDir, conf: dict, array: "str | None" = None) -> "list[str]":
    """The #SBATCH lines; ``array``: a sweep's first chunk (its script names its output)."""
    if array is not None:
        lines = [f"--job-name={job.jobid}", "--output=/dev/null"]
    else:
        array = _round(job, conf["array"])
        lines = [f"--job-name={job.jobid}", f"--output={'job.%a.out' if array else 'job.out'}"]
    lines += [f"{opt}={conf[name]}" for name, opt in SBATCH_OPTIONS if conf[name] is not None]
    if array is not None:
        lines.append(f"--array={array}")
    lines += [line.strip() for line in conf["sbatch"]]
    return [line if line.startswith("#SBATCH") else f"#SBATCH {line}" for line in lines]


def _submitted(job: JobDir) -> "str | None":
    """The Slurm id of this job if it is already in the queue, else None.

    Matched by job name (the grunt job id) *and* working directory, since two
    projects can have jobs with the same grunt id.
    """
    p = _run(["squeue", "-h", "-t", "all", "-u", _user(), "-n", job.jobid, "-o", "%F|%Z"])
    if p.returncode != 0:
        print(f"grunter: warning: cannot look for the job in the queue: {_message(p)}",
              file=sys.stderr)
        return None
    here = os.path.realpath(job.path)
    earlier = engine.earlier_attempts(job, protocol.SLURMID)
    for line in p.stdout.splitlines():
        slurmid, _, workdir = line.partition("|")
        if slurmid.isdigit() and os.path.realpath(workdir) == here and slurmid not in earlier:
            return slurmid
    return None


def _recorded(job: JobDir, slurmid: str, conf: dict) -> None:
    if conf["array"] is not None:
        job.write(protocol.ARRAY, conf["array"])
    job.write(protocol.SLURMID, slurmid)
    job.write(protocol.STATUS, "PENDING")
    _drop_cache(job)


def submit(job: JobDir, conf: dict) -> int:
    """Write job.sbatch and submit it, exactly once.

    A job already in the queue under this name and directory (grund crashed
    between sbatch and recording the id) is recorded instead of submitted
    again; so is one whose script has already started.  A rejected job gets
    job.error (sbatch's message) and job.status FAILED, and the exit code is 1.
    """
    if engine.already_submitted(job, protocol.SLURMID, "Slurm"):
        return 0
    job.write(protocol.SBATCH, job_script(job, conf, sbatch_header(job, conf)))
    slurmid = _submitted(job)
    if slurmid:
        _recorded(job, slurmid, conf)
        print(f"found Slurm job {slurmid} already submitted for {job.jobid}")
        return 0
    p = _run(["sbatch", f"--chdir={job.path}", protocol.SBATCH], cwd=job.path)
    m = SUBMITTED_RE.search(p.stdout)
    slurmid = m.group(1) if m else (_submitted(job) if p.returncode == 0 else None)
    if p.returncode != 0 or not slurmid:
        message = _message(p) if p.returncode != 0 else (
            f"no 'Submitted batch job N' in sbatch's output: {p.stdout.strip()!r}")
        job.fail(message)
        raise RunnerError(f"sbatch failed: {message.splitlines()[0]}")
    _recorded(job, slurmid, conf)
    print(f"Submitted batch job {slurmid}")
    return 0


class Row(NamedTuple):
    """One line of the squeue snapshot: one job, or one array task."""

    state: str
    reason: str
    end: str


def _drop_cache(job: JobDir) -> None:
    engine.drop_snapshot(job, protocol.SQUEUE_CACHE)


def _squeue_text(job: JobDir) -> str:
    """squeue's lines for all the user's jobs, from the project's cache when fresh."""
    return engine.snapshot(job, protocol.SQUEUE_CACHE,
                           ["squeue", "-h", "-r", "-t", "all", "-u", _user(), "-o", SQUEUE_FORMAT],
                           "Slurm")


def _snapshot(job: JobDir) -> "dict[tuple[str, int | None], Row]":
    rows = {}
    for line in _squeue_text(job).splitlines():
        parts = line.split("|", 5)
        if len(parts) == 6 and parts[0].isdigit():
            master, task, _raw, state, end, reason = parts
            key = (master, int(task) if task.isdigit() else None)
            rows[key] = Row(state, reason, end)
    return rows


def _outcome(row: Row) -> Outcome:
    state, reason = row.state, row.reason
    if state in _STATE_MAP:
        state, reason = _STATE_MAP[state], state
    elif reason == "None" or state in ("COMPLETED", "CANCELLED", "RUNNING", "COMPLETING"):
        reason = ""     # e.g. a cancelled job keeps the reason it was pending for
    end = _timestamp(row.end) if state in states.FINAL else None
    return Outcome(state, reason, None, end)


def _scontrol_exitcode(jobid: str) -> "int | None":
    p = _run(["scontrol", "show", "job", jobid])
    m = EXITCODE_RE.search(p.stdout) if p.returncode == 0 else None
    return _exitcode(*m.groups()) if m else None


def _sacct(slurmid: str) -> "dict[int | None, Outcome] | None":
    """Outcomes from Slurm's accounting database; None when there is none."""
    p = _run(["sacct", "-n", "-P", "-X", "-j", slurmid, "-o", "JobID,State,ExitCode,End"])
    if p.returncode != 0:
        return None
    found = {}  # type: dict[int | None, Outcome]
    for line in p.stdout.splitlines():
        parts = line.split("|")
        if len(parts) != 4:
            continue
        jobid, state, code, end = parts
        master, _, task = jobid.partition("_")
        state = state.split()[0] if state.strip() else ""
        if master != slurmid or (task and not task.isdigit()) or state not in states.FINAL:
            continue
        sig = code.partition(":")
        exitcode = _exitcode(sig[0], sig[2] or "0") if sig[0].isdigit() else None
        found[int(task) if task else None] = Outcome(state, "", exitcode, _timestamp(end))
    return found or None


def _jobcomp_file() -> "str | None":
    p = _run(["scontrol", "show", "config"])
    conf = dict(re.findall(r"^(\w+)\s*=\s*(.*?)\s*$", p.stdout, re.M)) if p.returncode == 0 else {}
    if conf.get("JobCompType") == "jobcomp/filetxt" and conf.get("JobCompLoc"):
        return conf["JobCompLoc"]
    return None


def _lines_backwards(f: BinaryIO, limit: int) -> Iterator[bytes]:
    """A file's lines from the last one back, reading at most ``limit`` bytes."""
    pos = f.seek(0, os.SEEK_END)
    stop = max(0, pos - limit)
    tail = b""
    while pos > stop:
        step = min(JOBCOMP_CHUNK, pos - stop)
        pos -= step
        f.seek(pos)
        lines = (f.read(step) + tail).split(b"\n")
        tail = lines.pop(0)         # maybe a part: the next chunk completes it
        yield from reversed(lines)
    if stop == 0:
        yield tail


def _jobcomp(slurmid: str, units: "list[int | None]") -> "dict[int | None, Outcome]":
    """Outcomes from the jobcomp text file, newest first.

    A line is ``Key=Value`` pairs for one finished job; an array task carries
    ``ArrayJobId``/``ArrayTaskId`` (its JobId is a raw id of its own).
    """
    path = _jobcomp_file()
    found = {}  # type: dict[int | None, Outcome]
    try:
        f = open(path, "rb") if path else None
    except OSError:
        f = None
    if f is None:
        return found
    with f:
        for line in _lines_backwards(f, JOBCOMP_SCAN_LIMIT):
            rec = dict(JOBCOMP_FIELD_RE.findall(line.decode("utf-8", "replace")))
            if rec.get("ArrayJobId") == slurmid and rec.get("ArrayTaskId", "").isdigit():
                unit: int | None = int(rec["ArrayTaskId"])
            elif rec.get("JobId") == slurmid and "ArrayJobId" not in rec:
                unit = None
            else:
                continue
            state = rec.get("JobState", "")
            if unit in found or unit not in units or state not in states.FINAL:
                continue
            code = re.match(r"(\d+):(\d+)$", rec.get("ExitCode", ""))
            exitcode = _exitcode(*code.groups()) if code and state in ("COMPLETED", "FAILED") else None
            found[unit] = Outcome(state, "", exitcode, _timestamp(rec.get("EndTime", "")))
            if len(found) == len(units):
                break
    return found


def _from_files(job: JobDir, unit: "int | None") -> Outcome:
    """What the job's own files say, when Slurm has nothing left to tell."""
    if job.has(protocol.CANCELED) and not job.has(protocol.task_file(unit, "end")):
        return Outcome("CANCELLED")
    return ended(job, unit) or Outcome("FAILED", "unknown to Slurm and no exit code recorded")


def status(job: JobDir, conf: dict) -> int:
    """Update job.status (and the units' files) from the scheduler; print it."""
    slurmid = job.read(protocol.SLURMID)
    if slurmid:
        refresh(job, lambda units: {u: (slurmid, u) for u in units})
    job.print_status()
    return 0


def refresh(job: JobDir, ids: "Callable[[list], dict]",
            pending: "Callable[[int | None, Outcome], Outcome] | None" = None) -> None:
    """Record the unsettled units' outcomes; ``ids(units)`` gives each its (Slurm
    id, array index), leaving out units not handed to Slurm yet; ``pending``
    may amend what squeue says of a unit."""
    units = [u for u in job.units() if not job.settled(u)]
    where = ids(units)
    rows = _snapshot(job) if units else {}
    gone = {}  # type: dict[str, list[tuple[int | None, int | None]]]
    for unit in units:
        if unit not in where:
            if job.has(protocol.CANCELED):
                job.record(unit, Outcome("CANCELLED"))
            continue
        slurmid, idx = where[unit]
        row = rows.get((slurmid, idx))
        if row is None:
            gone.setdefault(slurmid, []).append((unit, idx))
            continue
        outcome = _outcome(row)
        if pending is not None:
            outcome = pending(unit, outcome)
        if (outcome.state in states.FINAL and job.exitcode(unit) is None
                and job.has(protocol.task_file(unit, "start"))):
            outcome.exitcode = _scontrol_exitcode(slurmid if idx is None else f"{slurmid}_{idx}")
        job.record(unit, outcome)
    for slurmid, pairs in gone.items():
        known = _sacct(slurmid) or _jobcomp(slurmid, [idx for _, idx in pairs])
        for unit, idx in pairs:
            job.record(unit, known.get(idx) or _from_files(job, unit))
    job.summarize()


def cancel(job: JobDir, conf: dict) -> int:
    def scancel(slurmid: str) -> subprocess.CompletedProcess:
        return _run(["scancel", *sorted({sid for _, _, sid in sweep_mod.chunks_of(job)} | {slurmid})])
    return engine.cancel(job, protocol.SLURMID, scancel, protocol.SQUEUE_CACHE, "Slurm")


def queue(job: JobDir, conf: dict) -> int:
    """The user's queue and the partition, as squeue and sinfo show them."""
    sinfo = ["sinfo"] + (["-p", str(conf["partition"])] if conf.get("partition") else [])
    return engine.show([["squeue", "-u", _user()], sinfo], "Slurm")
