"""The wire format shared by grunt, grund and the runners.

Layout of one job, inside a jobs (or results) repository::

    <folder>/<jobid>/<proj>/          folder: active | archive | delete  (JobPath)
        ...project files...           the snapshot taken by `grunt submit`
        grcmd.<cmd>                   a client command (content: timestamp or data)
        job.*                         job files (names below; the README has the table)

Besides the folders, a jobs repository holds ``.grunt-ids/<prefix>`` (the last
job number of each prefix) and ``active/<prefix>000000/<proj>/`` (commands
that belong to no job, e.g. newproj-server).
"""
import datetime as _dt
import os
import re
import tempfile
from typing import Iterable, Iterator, NamedTuple

BRANCH = "main"                   # the one branch of every repository
FOLDERS = ("active", "archive", "delete")
TS_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
IDS_DIR = ".grunt-ids"            # in the jobs repo: .grunt-ids/<prefix> holds the last number

# Job files.  Client-written: MESSAGE SUBMIT ARGS SERVER, the provenance and
# PARENT.  grund-written: LIST LOG INTERRUPTED.  The rest: the runner and the
# job's own script.
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
SGEID = "job.sgeid"             # the Grid Engine job number
PID = "job.pid"
OUT = "job.out"
SBATCH = "job.sbatch"
SGE_SCRIPT = "job.sge"          # the Grid Engine engine's script, with its #$ lines
LOCAL_SCRIPT = "job.sh"         # the local runner's wrapper script
ARRAY = "job.array"
LIST = "job.list"
LOG = "job.log"
SOURCE = "job.source"           # provenance, written by the client at submit
DIRTY = "job.dirty"
PATCH = "job.patch"
UNTRACKED = "job.untracked"
PARENT = "job.parent"           # the job a resubmitted job was made from
INTERRUPTED = "job.interrupted"  # commands grund gave up on: "<timestamp> <cmd>" lines
UNCONFIRMED = "job.unconfirmed"  # grunter.py submit exited 0 but left no sign; its output
SWEEP = "job.sweep"             # a sweep's runs (JSON, client-written; gruntlib/sweep.py)
RESOURCES = "job.resources"     # settings a resubmit overrides: "<setting> <value>" lines
CHUNKS = "job.chunks"           # a sweep's sbatch calls: "<first task> <count> <slurm id>" lines
RUNS_DIR = "runs"               # a sweep's run T works in <job>/runs/<T>/
RETRY = "job.retry"             # runner: the retry policy and this attempt's resources (JSON)
ATTEMPT = "job.attempt"         # grund: the attempt now running, its number and resources (JSON)
ATTEMPTS = "job.attempts"       # grund: one JSON line per ended attempt of a retried job
AFTER = "job.after"             # client: <jobid>:<ok|any|notok>, hold the job until then
# an attempt's own files: grund renames them job.try<N>.<name> before the next one
ATTEMPT_FILES = (SLURMID, SGEID, PID, STATUS, START, END, EXITCODE, OUT, SBATCH, SGE_SCRIPT,
                 LOCAL_SCRIPT, UNCONFIRMED)
# Any of these says that the job was handed to a scheduler (or that handing
# it over failed for good, or ended without a sign): its submit never runs again.
SUBMITTED_SIGNS = (SLURMID, SGEID, PID, START, ERROR, END, UNCONFIRMED, CHUNKS)
# the files holding a scheduler's id for the job (the local runner's is PID)
SCHEDULER_IDS = (SLURMID, SGEID)

CMD_PREFIX = "grcmd."
JOBID_RE = re.compile(r"^([a-z]{3})(\d{6})$")
PROJ_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# folder/jobid/proj/grcmd.cmd -- the only paths grund ever acts on
CMD_PATH_RE = re.compile(
    r"^(active|archive|delete)/([a-z]{3}\d{6})/([A-Za-z0-9][A-Za-z0-9._-]*)/grcmd\.([a-z][a-z0-9_-]*)$")
# job.after: the job to wait for and how it must end
AFTER_RE = re.compile(r"^([a-z]{3}\d{6})(?::(ok|any|notok))?$")
AFTER_KINDS = ("ok", "any", "notok")
# per-task files of an array job: job.<task>.<name>
TASK_FILE_RE = re.compile(r"^job\.(\d+)\.(start|end|exitcode|status|out)$")


def is_end_file(name: str) -> bool:
    """``job.end`` or a task's ``job.<task>.end``: written when a job (or task) ends."""
    m = TASK_FILE_RE.match(name)
    return name == END or bool(m and m.group(2) == "end")

# The state files grund, grunt and the runners keep in a working copy's .git
# directory (never committed).  Server jobs copy: CURSOR, SEEN, REFRESHED,
# RUNNING (a directory of per-job locks), CHANGED_MARKER, SQUEUE_CACHE, QSTAT_CACHE,
# SGE_GONE.
# Client jobs copy: BUILDING, JOBS_CACHE, JOBS_LISTING, UNSETTLED, DIGEST.
CURSOR = "grund-cursor"          # grund's position in the history (server/cursor.py)
SEEN = "grund-seen"              # what grund's last round left, to skip unchanged projects
REFRESHED = "grund-refreshed"    # touched when the unfinished jobs were last asked about
RUNNING = "grund-running"        # <jobid>: flock held while one of its grunter calls runs
CHANGED_MARKER = "grunt-changed"  # touched by job scripts: a job's files changed
SQUEUE_CACHE = "grunt-squeue"    # the Slurm runner's squeue snapshot of this round
QSTAT_CACHE = "grunt-qstat"      # the Grid Engine runner's qstat snapshot of this round
SGE_GONE = "grunt-sge-gone"      # Grid Engine units seen gone from qstat with no qacct record yet
# a client command is changing the copy: one killed meanwhile leaves it, and the
# next one then resets the copy (and lists jobs without the cache)
BUILDING = "grunt-building"
JOBS_CACHE = "grunt-jobs-cache"  # parsed jobs, by job directory tree (client/jobcache.py)
JOBS_LISTING = "grunt-jobs-listing"  # the last grunt jobs output, by commit (client/jobcache.py)
UNSETTLED = "grunt-unsettled"    # pushes whose answer was lost (client/unsettled.py)
DIGEST = "grunt-digest"          # the job states the user's last command saw (client/digest.py)
STATE_FILES = (CURSOR, SEEN, REFRESHED, RUNNING, CHANGED_MARKER, SQUEUE_CACHE, QSTAT_CACHE,
               SGE_GONE, BUILDING, JOBS_CACHE, JOBS_LISTING, UNSETTLED, DIGEST)

# Outside any repository: grund's wake-up FIFO, in <home>/grunt/srv/<server>/.
FIFO = "grund.fifo"
# ... and its marks: a pusher (the bare repo's hook) or a job script leaves an empty
# file named after the project in this folder before it pokes the FIFO, so grund
# looks at that project alone (a name no project can have: it starts with a dot)
MARKS = ".grund-marks"
# Refs in the bare jobs repo, fetched by clients with the branch (no commits):
HEARTBEAT_REF = "refs/grunt/heartbeat"   # a JSON blob: grund was here (lib/heartbeat.py)
PROBLEM_REF = "refs/grunt/problem"       # a text blob: why grund cannot work (out of space ...)
GRUND_NAME = "grund"


def grund_email(server: str) -> str:
    """The author of grund's commits: the client tells its own commands from them."""
    return f"grund@{server}"


def state_file(wc: str, name: str) -> str:
    """One of the STATE_FILES of working copy ``wc``."""
    return os.path.join(wc, ".git", name)


class JobPath(NamedTuple):
    """Where a job lies in a jobs or results repository: ``<folder>/<jobid>/<proj>``.

    The one place that builds and parses that path.
    """

    folder: str
    jobid: str
    proj: str

    @property
    def rel(self) -> str:
        """The job directory relative to the repository's top (with /)."""
        return f"{self.folder}/{self.jobid}/{self.proj}"

    @property
    def id_rel(self) -> str:
        """``<folder>/<jobid>``: what moves between folders."""
        return f"{self.folder}/{self.jobid}"

    def file(self, name: str) -> str:
        """A file of the job, relative to the repository's top."""
        return f"{self.rel}/{name}"

    def under(self, top: str) -> str:
        """The job directory in the working copy ``top``."""
        return os.path.join(top, self.folder, self.jobid, self.proj)

    def moved(self, folder: str) -> "JobPath":
        return JobPath(folder, self.jobid, self.proj)

    @classmethod
    def parse(cls, rel: str) -> "JobPath | None":
        """``<folder>/<jobid>/<proj>`` (relative, with /) -> JobPath; None if it is not one."""
        parts = rel.strip("/").split("/")
        if (len(parts) == 3 and parts[0] in FOLDERS and JOBID_RE.match(parts[1])
                and PROJ_RE.match(parts[2])):
            return cls(*parts)
        return None

    @classmethod
    def of_dir(cls, jobdir: str) -> "JobPath":
        """The JobPath of a job directory given by its path on disk."""
        d = os.path.abspath(jobdir)
        jobid_dir = os.path.dirname(d)
        return cls(os.path.basename(os.path.dirname(jobid_dir)), os.path.basename(jobid_dir),
                   os.path.basename(d))

    @staticmethod
    def top_of(jobdir: str) -> str:
        """The working copy holding the job directory ``jobdir``."""
        return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(jobdir))))


def parse_command(path: str) -> "tuple[JobPath, str] | None":
    """``<folder>/<jobid>/<proj>/grcmd.<cmd>`` -> (job, cmd); None for any other path."""
    m = CMD_PATH_RE.match(path)
    return (JobPath(m.group(1), m.group(2), m.group(3)), m.group(4)) if m else None


def locate(top: str, jobid: str, proj: str) -> "JobPath | None":
    """The job's place in working copy ``top`` (whichever folder it is in), or None."""
    for folder in FOLDERS:
        jp = JobPath(folder, jobid, proj)
        if os.path.isdir(jp.under(top)):
            return jp
    return None


def job_dirs(top: str, folders: "tuple[str, ...]" = FOLDERS) -> Iterator[JobPath]:
    """Every job directory in working copy ``top`` (control directories left out)."""
    for folder in folders:
        try:
            ids = [e.name for e in os.scandir(os.path.join(top, folder))
                   if e.is_dir() and is_job_id(e.name)]
        except FileNotFoundError:
            continue
        for jid in sorted(ids):
            yield from projects_of(top, folder, jid)


def projects_of(top: str, folder: str, jobid: str) -> Iterator[JobPath]:
    """The job directories below ``<top>/<folder>/<jobid>/`` (one per project)."""
    try:
        names = sorted(e.name for e in os.scandir(os.path.join(top, folder, jobid))
                       if e.is_dir() and PROJ_RE.match(e.name))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        yield JobPath(folder, jobid, name)


def changed_marker(jobdir: str) -> str:
    """The file a job touches when its files changed, so grund commits them."""
    return state_file(JobPath.top_of(jobdir), CHANGED_MARKER)


def fifo_path(jobdir: str) -> str:
    """grund's wake-up FIFO, seen from a job: ``<home>/grunt/srv/<server>/grund.fifo``.

    The jobs working copy is ``<home>/grunt/srv/<server>/<proj>/jobs``.
    """
    return os.path.join(os.path.dirname(os.path.dirname(JobPath.top_of(jobdir))), FIFO)


def mark_path(jobdir: str) -> str:
    """The mark a job leaves for grund: ``<home>/grunt/srv/<server>/.grund-marks/<proj>``."""
    wc = JobPath.top_of(jobdir)
    return os.path.join(os.path.dirname(os.path.dirname(wc)), MARKS,
                        os.path.basename(os.path.dirname(wc)))


def attempt_file(attempt: int, name: str) -> str:
    """``job.try<N>.<rest>``: file ``job.<rest>`` of an earlier attempt N."""
    return f"job.try{attempt}.{name[len('job.'):]}"


def task_attempt_file(task: int, attempt: int, name: str) -> str:
    """``job.<T>.try<N>.<name>``: file ``job.<T>.<name>`` of task T's attempt N."""
    return f"job.{task}.try{attempt}.{name}"


def task_file(task: "int | str | None", name: str) -> str:
    """``job.<name>``, or ``job.<task>.<name>`` for one task of an array job."""
    return f"job.{name}" if task is None else f"job.{task}.{name}"


def array_tasks(spec: str) -> "list[int]":
    """Task ids of an sbatch --array spec: ``0-3``, ``1,5,7``, ``0-15:4``, ``0-9%2``.

    Parts that are not ranges are skipped: the runner checks the spec before
    submitting, and readers of old job.array files should not fail on one.
    """
    tasks = set()
    for part in spec.split("%")[0].split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part.strip())
        if m:
            first = int(m.group(1))
            tasks.update(range(first, int(m.group(2) or first) + 1, int(m.group(3) or 1)))
    return sorted(tasks)


# what a job printed: job.out, an array task's job.<T>.out, and whatever else a
# grunter names so (job.3.setup.out, job.4_0.out, job.4_0.err, job.4_0.error);
# job.error itself is grunt's word on a failed submit, not output
OUTPUT_RE = re.compile(r"^job(?:\..+)?\.(?:out|err|error)$")
# an earlier attempt's file: job.try1.out (attempt_file), job.3.try1.out (task_attempt_file)
ATTEMPT_FILE_RE = re.compile(r"^job\.(?:\d+\.)?try\d+\.")


def output_files(names: "Iterable[str]") -> "list[str]":
    """The job's output files among ``names``: job.out first, then in natural order."""
    def key(name: str) -> "tuple":
        return (name != OUT, [int(w) if w.isdigit() else w for w in re.split(r"(\d+)", name)])
    return sorted((n for n in names if n != ERROR and OUTPUT_RE.match(n)), key=key)


def is_job_file(rel: str) -> bool:
    """A job's own files, never results: job.*, grcmd.* and the job script's
    temporary .job.* files, at the top of the job directory."""
    return "/" not in rel and rel.startswith(("job.", ".job.", CMD_PREFIX))


def is_job_id(name: str) -> bool:
    """A job's id; number 0 (``abc000000``) is the control directory, not a job."""
    m = JOBID_RE.match(name)
    return bool(m) and int(m.group(2)) != 0


def format_jobid(prefix: str, number: int) -> str:
    return f"{prefix}{number:06d}"


def control_id(prefix: str) -> str:
    """The directory of commands that belong to no job (``<prefix>000000``)."""
    return format_jobid(prefix, 0)


def now_ts() -> str:
    """The current UTC time in the protocol's timestamp format."""
    return _dt.datetime.now(_dt.timezone.utc).strftime(TS_FORMAT)


def parse_ts(text: str) -> "_dt.datetime | None":
    try:
        return _dt.datetime.strptime(text.strip(), TS_FORMAT).replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def write_atomic(path: str, data: "str | bytes", mode: int = 0o644) -> None:
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


def read_text(path: str) -> "str | None":
    """File content, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
