"""The wire format shared by grunt, grund and the runners.

This module is copied into grunter's runtime package (see lib/runtime.py), so
it imports nothing but the standard library.

Layout of one job, inside a jobs (or results) repository::

    <folder>/<jobid>/<proj>/          folder: active | archive | delete
        ...project files...           the snapshot taken by `grunt submit`
        grcmd.<cmd>                   a client command (content: timestamp or data)
        job.*                         job files (see JOB_FILES and the README)
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import tempfile

FOLDERS = ("active", "archive", "delete")
TS_FORMAT = "%Y-%m-%d %H:%M:%S UTC"

# Job files.  Client-written: MESSAGE SUBMIT ARGS SERVER.  Runner-written: the
# rest but LIST and LOG, which grund writes.
MESSAGE = "job.message"
SUBMIT = "job.submit"
ARGS = "job.args"
SERVER = "job.server"
START = "job.start"
END = "job.end"
EXITCODE = "job.exitcode"
STATUS = "job.status"
CANCELED = "job.canceled"
ERROR = "job.error"
SLURMID = "job.slurmid"
PID = "job.pid"
OUT = "job.out"
SBATCH = "job.sbatch"
LOCAL_SCRIPT = "job.sh"         # the local runner's wrapper script
ARRAY = "job.array"
LIST = "job.list"
LOG = "job.log"
# provenance, written by the client at submit (see lib/provenance.py)
SOURCE = "job.source"
DIRTY = "job.dirty"
PATCH = "job.patch"
UNTRACKED = "job.untracked"
PARENT = "job.parent"           # the job a resubmitted job was made from
INTERRUPTED = "job.interrupted"  # commands grund gave up on: "<timestamp> <cmd>" lines

# in a client jobs copy's .git while a command changes the copy: a command killed
# meanwhile leaves it, and the next one then resets the copy (and lists jobs
# without the cache) even when the server has nothing new
BUILDING = "grunt-building"
CMD_PREFIX = "grcmd."
JOBID_RE = re.compile(r"^([a-z]{3})(\d{6})$")
# folder/jobid/proj/grcmd.cmd -- the only paths grund ever acts on
CMD_PATH_RE = re.compile(
    r"^(active|archive|delete)/([a-z]{3}\d{6})/([A-Za-z0-9][A-Za-z0-9._-]*)/grcmd\.([a-z][a-z0-9_-]*)$")
PROJ_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# per-task files of an array job: job.<task>.<name>
TASK_FILE_RE = re.compile(r"^job\.(\d+)\.(start|end|exitcode|status|out)$")

# job.status holds one line "<STATE> [reason]" in Slurm's words.  These states
# never change again; the others are PENDING, RUNNING and COMPLETING.
FINAL_STATES = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
    "PREEMPTED", "BOOT_FAIL", "DEADLINE"})

# Files outside any job that jobs and runners touch to wake grund.
CHANGED_MARKER = "grunt-changed"   # in the jobs working copy's .git directory
FIFO = "grund.fifo"                # in <home>/grunt/srv/<server>/
# In the bare jobs repo: a blob saying why grund cannot work on the project
# (out of space, read-only); clients fetch it and warn.  Gone when all is well.
PROBLEM_REF = "refs/grunt/problem"


def task_file(task: int | str | None, name: str) -> str:
    """``job.<name>``, or ``job.<task>.<name>`` for one task of an array job."""
    return f"job.{name}" if task is None else f"job.{task}.{name}"


def job_wc(jobdir: str) -> str:
    """The jobs working copy that holds ``jobdir`` (``<wc>/<folder>/<jobid>/<proj>``)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(jobdir))))


def changed_marker(jobdir: str) -> str:
    """The file a job touches when its files changed, so grund commits them."""
    return os.path.join(job_wc(jobdir), ".git", CHANGED_MARKER)


def fifo_path(jobdir: str) -> str:
    """grund's wake-up FIFO: ``<home>/grunt/srv/<server>/grund.fifo``.

    The jobs working copy is ``<home>/grunt/srv/<server>/<proj>/jobs``.
    """
    return os.path.join(os.path.dirname(os.path.dirname(job_wc(jobdir))), FIFO)


def array_tasks(spec: str) -> list[int]:
    """Task ids of an sbatch --array spec: ``0-3``, ``1,5,7``, ``0-15:4``, ``0-9%2``.

    Parts that are not ranges are skipped: the runner checks the spec before
    submitting, and readers of old job.array files should not fail on one.
    """
    tasks: set[int] = set()
    for part in spec.split("%")[0].split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part.strip())
        if m:
            first = int(m.group(1))
            tasks.update(range(first, int(m.group(2) or first) + 1, int(m.group(3) or 1)))
    return sorted(tasks)


def is_job_file(rel: str) -> bool:
    """A job's own files, never results: job.*, grcmd.* and the job script's
    temporary .job.* files, at the top of the job directory."""
    return "/" not in rel and rel.startswith(("job.", ".job.", CMD_PREFIX))


def now_ts() -> str:
    """The current UTC time in the protocol's timestamp format."""
    return _dt.datetime.now(_dt.timezone.utc).strftime(TS_FORMAT)


def parse_ts(text: str) -> _dt.datetime | None:
    try:
        return _dt.datetime.strptime(text.strip(), TS_FORMAT).replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def format_jobid(prefix: str, number: int) -> str:
    return f"{prefix}{number:06d}"


def write_atomic(path: str, data: str | bytes, mode: int = 0o644) -> None:
    """Write a file so that readers see the old or the new content, never half."""
    raw = data.encode() if isinstance(data, str) else data
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp.", suffix="~")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_text(path: str) -> str | None:
    """File content, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
