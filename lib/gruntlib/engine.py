"""What the scheduler engines share: their commands, the user, a round's snapshot.

A snapshot is one query for all the user's jobs (squeue, qstat), kept a few
seconds in the jobs working copy's .git directory so that every ``status`` of
one grund round shares it.  A snapshot older than the job's own latest file is
not trusted for that job: it may predate the submission or the end.
"""
import os
import pwd
import subprocess
import sys
import time

from typing import Callable

from . import protocol
from .jobdir import JobDir, RunnerError

# Long enough for one grund round over a project's jobs, and well below the
# time a scheduler keeps an ended job (Slurm's MinJobAge): a cached "running"
# must not hide an end.
CACHE_SECONDS = 3.0


def user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def run(argv: "list[str]", cwd: "str | None" = None, cluster: str = "Slurm",
        env: "dict[str, str] | None" = None) -> subprocess.CompletedProcess:
    """Run a scheduler command (``env``: more environment); its output as text.
    RunnerError when it is missing."""
    try:
        return subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, errors="replace", stdin=subprocess.DEVNULL,
                              env=None if env is None else dict(os.environ, **env))
    except FileNotFoundError:
        raise RunnerError(f"{argv[0]} not found on PATH (is this a {cluster} cluster?)") from None


def message(p: subprocess.CompletedProcess) -> str:
    return (p.stderr.strip() or p.stdout.strip()
            or f"{p.args[0]} exited with status {p.returncode}")


def earlier_attempts(job: JobDir, idfile: str) -> "set[str]":
    """Scheduler ids of the job's earlier attempts (job.try<N>.<id file>): same name
    and directory, but not this attempt."""
    found = set()
    for n in range(1, 1000):
        name = protocol.attempt_file(n, idfile)
        if not job.has(name):
            break
        found.add(job.read(name) or "")
    return found


def _cache_path(job: JobDir, name: str) -> "str | None":
    path = protocol.state_file(protocol.JobPath.top_of(job.path), name)
    return path if os.path.isdir(os.path.dirname(path)) else None


def drop_snapshot(job: JobDir, name: str) -> None:
    path = _cache_path(job, name)
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def files_changed(job: JobDir) -> float:
    """When the job's own files last changed (output files excepted)."""
    latest = 0.0
    with os.scandir(job.path) as it:
        for e in it:
            if e.name.startswith("job.") and not e.name.endswith(".out"):
                try:
                    latest = max(latest, e.stat(follow_symlinks=False).st_mtime)
                except FileNotFoundError:
                    pass
    return latest


def snapshot(job: JobDir, name: str, argv: "list[str]", cluster: str) -> str:
    """The output of ``argv`` (a query for all the user's jobs), from the project's
    cache ``name`` when fresh; RunnerError when the query fails."""
    path = _cache_path(job, name)
    now = time.time()
    if path:
        text = protocol.read_text(path)
        if text:
            stamp, _, rest = text.partition("\n")
            try:
                taken = float(stamp)
            except ValueError:
                taken = 0.0
            if 0 <= now - taken < CACHE_SECONDS and taken > files_changed(job):
                return rest
    p = run(argv, cluster=cluster)
    if p.returncode != 0:
        raise RunnerError(f"{argv[0]} failed: {message(p)}")
    if path:
        try:
            protocol.write_atomic(path, f"{now}\n{p.stdout}")
        except OSError:
            pass
    return p.stdout


def cancel(job: JobDir, idfile: str, kill: "Callable[[str], subprocess.CompletedProcess]",
           cache: str, cluster: str) -> int:
    """Cancel the job whose scheduler id is in ``idfile`` by ``kill(id)`` (scancel,
    qdel); a job never handed to the scheduler is recorded Canceled at once."""
    sched_id = job.read(idfile)
    if not sched_id:
        if job.has(protocol.ERROR):
            print("grunter: nothing to cancel: the submission failed", file=sys.stderr)
            return 0
        job.write(protocol.CANCELED, protocol.now_ts())
        job.write(protocol.STATUS, "CANCELLED")
        return 0
    if job.all_settled():
        print(f"grunter: job {job.jobid} has already ended", file=sys.stderr)
        return 0
    job.write(protocol.CANCELED, protocol.now_ts())     # before: see jobdir.ended
    p = kill(sched_id)
    if p.returncode != 0:
        os.unlink(job.file(protocol.CANCELED))
        raise RunnerError(f"{p.args[0]} failed: {message(p)}")
    drop_snapshot(job, cache)
    print(f"cancelled {cluster} job {sched_id}")
    return 0


def already_submitted(job: JobDir, idfile: str, cluster: str) -> bool:
    """Say why submit has nothing to do (the job has a scheduler id, or it has
    started); RunnerError when an earlier submission failed for good."""
    if job.has(idfile):
        print(f"grunter: already submitted as {cluster} job {job.read(idfile)}", file=sys.stderr)
        return True
    if job.has(protocol.ERROR):
        raise RunnerError(f"the submission failed before: {job.read(protocol.ERROR)}")
    if job.submitted():
        print("grunter: the job has already started; not submitting it again", file=sys.stderr)
        return True
    return False


def show(argvs: "list[list[str]]", cluster: str) -> int:
    """``queue``: print what each scheduler command says; 1 when one of them failed."""
    rc = 0
    for argv in argvs:
        p = run(argv, cluster=cluster)
        sys.stdout.write(p.stdout)
        if p.returncode != 0:
            print(f"grunter: error: {' '.join(argv)} failed: {message(p)}", file=sys.stderr)
            rc = 1
    return rc
