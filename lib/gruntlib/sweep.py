"""A sweep: many runs of one job, one snapshot, described by ``job.sweep``.

``job.sweep`` is a JSON object written by ``grunt sweep``::

    {"version": 1, "params": ["lr", "seed"], "style": "--name value",
     "fixed": ["--epochs", "30"], "parallel": null, "pack": null,
     "runs": [{"task": 0, "values": {"lr": "0.1", "seed": "1"}, "repeat": 0,
               "args": ["--lr", "0.1", "--seed", "1", "--epochs", "30"]}, ...]}

Run T is task T of the job (``<jobid>_<T>``): it has the per-task files of an
array job (``job.T.start``, ``job.T.out`` ...), works in ``runs/<T>/`` below
the job directory and sees GRUNT_TASK, GRUNT_REPEAT, GRUNT_RUN_DIR and
GRUNT_JOB_DIR.  Also the settings a resubmit overrides (``job.resources``).
"""
import json

from . import protocol
from .jobdir import JobDir, RunnerError

VERSION = 1
STYLES = ("--name value", "--name=value", "name=value")
# the largest array Slurm allows when scontrol does not say (its default MaxArraySize)
DEFAULT_MAX_ARRAY = 1001


def value_args(style: str, name: str, value: str) -> "list[str]":
    """How one parameter value becomes program arguments in ``style``."""
    if style == "--name=value":
        return [f"--{name}={value}"]
    if style == "name=value":
        return [f"{name}={value}"]
    return [f"--{name}", value]


def label(run: dict) -> str:
    """``lr=0.1 seed=3`` (and ``#2`` for the third repeat): what names a run."""
    text = " ".join(f"{k}={v}" for k, v in run.get("values", {}).items())
    if run.get("repeat"):
        text += f" #{run['repeat']}"
    return text


def check(data: object) -> dict:
    """job.sweep's content, checked; ValueError saying what is wrong."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError(f"not a version {VERSION} sweep")
    runs = data.get("runs")
    if not isinstance(runs, list) or not runs:
        raise ValueError("a sweep without runs")
    for i, run in enumerate(runs):
        args = run.get("args") if isinstance(run, dict) else None
        if (not isinstance(args, list) or run.get("task") != i
                or not all(isinstance(a, str) and "\n" not in a for a in args)):
            raise ValueError(f"run {i} is malformed")
    for key in ("parallel", "pack"):
        n = data.get(key)
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ValueError(f"{key} must be a positive number")
    return data


def load(job: JobDir) -> "dict | None":
    """The job's sweep, None for a job that is not one; RunnerError when it is damaged."""
    text = protocol.read_text(job.file(protocol.SWEEP))
    if text is None:
        return None
    try:
        return check(json.loads(text))
    except ValueError as e:
        raise RunnerError(f"{protocol.SWEEP} is damaged: {e}") from None


def array_spec(data: dict) -> str:
    """The tasks as an array spec, ``0-14``."""
    return f"0-{len(data['runs']) - 1}"


def chunks(count: int, max_array: int) -> "list[tuple[int, int]]":
    """(first task, number of tasks) of each sbatch call for ``count`` runs.

    MaxArraySize caps the task *index* (it must be below it), so every chunk
    is an array ``0-(n-1)`` of its own and the job script adds the chunk's
    first task (GRUNT_TASK_BASE) to SLURM_ARRAY_TASK_ID.
    """
    size = max(1, max_array)
    return [(base, min(size, count - base)) for base in range(0, count, size)]


def resources(job: JobDir) -> "dict[str, str]":
    """Settings this job overrides (``job.resources``: ``<setting> <value>`` lines)."""
    found = {}
    for line in (protocol.read_text(job.file(protocol.RESOURCES)) or "").splitlines():
        name, _, value = line.strip().partition(" ")
        if name and value.strip():
            found[name] = value.strip()
    return found


def runs_to_cancel(job: JobDir) -> "list[int]":
    """The tasks ``grcmd.cancel-runs`` names (its ``tasks 3 5`` line), of this job."""
    text = protocol.read_text(job.file(protocol.CMD_PREFIX + "cancel-runs")) or ""
    have = set(job.units())
    found = [int(w) for line in text.splitlines() if line.startswith("tasks ")
             for w in line.split()[1:] if w.isdigit()]
    if not found or not set(found) <= have:
        raise RunnerError(f"cancel-runs: no such runs of {job.jobid}: {text.strip()!r}")
    return sorted(set(found))


def mark_canceled(job: JobDir, task: int) -> None:
    """A run canceled on its own: CANCELLED before its script can record an end."""
    job.write(protocol.task_file(task, "status"), "CANCELLED")


def chunks_of(job: JobDir) -> "list[tuple[int, int, str]]":
    """A sweep's sbatch calls so far: (first task, number of tasks, Slurm id)."""
    found = []
    for line in (job.read(protocol.CHUNKS) or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and all(x.isdigit() for x in parts):
            found.append((int(parts[0]), int(parts[1]), parts[2]))
    return found


def retried_tasks(job: JobDir) -> "list[int] | None":
    """The tasks grund retries in this round of a sweep or array (job.attempt's
    ``tasks``, server/taskretries.py); None when all of them run."""
    try:
        data = json.loads(job.read(protocol.ATTEMPT) or "{}")
    except ValueError:
        return None
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return [int(t) for t in tasks] if isinstance(tasks, list) and tasks else None
