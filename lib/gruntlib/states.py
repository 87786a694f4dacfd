"""The one vocabulary of job states.

Two layers of words:

* ``job.status`` holds one line ``<WORD> [reason]`` in Slurm's words
  (``PENDING Resources``, ``TIMEOUT``); every engine writes those words.
* The user sees a state: Pending, Running, Done, Failed, Timeout,
  OutOfMemory, Canceled.  ``derive_state`` computes it from a unit's files
  (the job, or one array task), the job's own records first: they stay true
  after the scheduler has forgotten the job.

A state is *finished* when it can never change again (FINISHED); a
``job.status`` word is *final* for the same reason (FINAL).  FINISHED is
derived from FINAL, so the two cannot disagree.
"""
from typing import NamedTuple

# States shown to the user, and how alarming each one is (term.py colours by it).
PENDING, RUNNING, DONE, FAILED, CANCELED = "Pending", "Running", "Done", "Failed", "Canceled"
TIMEOUT, OUT_OF_MEMORY = "Timeout", "OutOfMemory"
KIND = {PENDING: "waiting", RUNNING: "active", DONE: "good", FAILED: "bad", TIMEOUT: "bad",
        OUT_OF_MEMORY: "bad", CANCELED: "warn"}

# job.status words -> the user's state.  The final ones never change again.
WORDS = {
    "PENDING": PENDING, "CONFIGURING": PENDING, "REQUEUED": PENDING, "SUSPENDED": PENDING,
    "RUNNING": RUNNING, "COMPLETING": RUNNING,
    "COMPLETED": DONE,
    "FAILED": FAILED, "NODE_FAIL": FAILED, "BOOT_FAIL": FAILED, "DEADLINE": FAILED,
    "PREEMPTED": FAILED,
    "CANCELLED": CANCELED, "CANCELED": CANCELED,
    "TIMEOUT": TIMEOUT, "OUT_OF_MEMORY": OUT_OF_MEMORY,
}
FINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
                   "PREEMPTED", "BOOT_FAIL", "DEADLINE"})
FINISHED = frozenset(WORDS[w] for w in FINAL)
# When the tasks of an array end differently, the array takes the first of these.
ARRAY_PRECEDENCE = ("CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
                    "DEADLINE", "PREEMPTED", "FAILED")

# a unit's own files, by short name: job.<name> or job.<task>.<name>
UNIT_FILES = ("start", "end", "exitcode", "status", "canceled", "error")


def _int(text: "str | None") -> "int | None":
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def first_line(text: "str | None") -> str:
    return text.strip().splitlines()[0].strip() if text and text.strip() else ""


def derive_state(files: "dict[str, str]") -> "tuple[str, int | None, str]":
    """(state, exit code, scheduler detail) from the texts of one unit's files.

    ``files`` maps short names (UNIT_FILES) to file contents.
    """
    status = first_line(files.get("status"))
    word = status.split(" ", 1)[0].upper() if status else ""
    sched = WORDS.get(word)
    code = _int(files.get("exitcode"))
    if "error" in files:
        return FAILED, code, first_line(files["error"])
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


class TaskState(NamedTuple):
    index: int
    status: str
    exit_code: "int | None"
    start: str
    end: str


class JobState(NamedTuple):
    status: str
    exit_code: "int | None"
    detail: str
    start: str
    end: str
    tasks: "list[TaskState]"


def job_state(texts: "dict[str, str]", array_tasks: "list[int] | None") -> JobState:
    """A job's state from the texts of its ``job.*`` files ({file name: text}).

    ``array_tasks``: the task ids of an array job (from job.array), None for a
    plain job.  An array's state sums its tasks' up.
    """
    own = {k[4:]: v for k, v in texts.items() if k[4:] in UNIT_FILES and k.count(".") == 1}
    start, end = first_line(own.get("start")), first_line(own.get("end"))
    if array_tasks is None:
        status, code, detail = derive_state(own)
        return JobState(status, code, detail, start, end, [])
    per = {t: {} for t in array_tasks}   # type: dict[int, dict[str, str]]
    for name, text in texts.items():
        parts = name.split(".")
        if len(parts) == 3 and parts[1].isdigit() and parts[2] in UNIT_FILES[:4]:
            per.setdefault(int(parts[1]), {})[parts[2]] = text
    tasks = []
    for idx in sorted(per):
        files = dict(per[idx])
        files.update((k, own[k]) for k in ("canceled", "error") if k in own)
        st, code, _ = derive_state(files)
        tasks.append(TaskState(idx, st, code, first_line(files.get("start")),
                               first_line(files.get("end"))))
    whole, code, detail = derive_state(own)
    if not tasks or whole in (FAILED, CANCELED) and ("error" in own or "canceled" in own):
        return JobState(whole, code, detail, start, end, tasks)
    status = _array_status([t.status for t in tasks])
    codes = [t.exit_code for t in tasks if t.exit_code is not None]
    code = next((c for c in codes if c != 0), codes[0] if codes else None) \
        if status in FINISHED else None
    starts = [t.start for t in tasks if t.start]
    ends = [t.end for t in tasks if t.end]
    return JobState(status, code, detail, start or (min(starts) if starts else ""),
                    end or (max(ends) if ends and status in FINISHED else ""), tasks)


def _array_status(states: "list[str]") -> str:
    if any(s == RUNNING for s in states):
        return RUNNING
    if any(s == PENDING for s in states):
        return RUNNING if any(s in FINISHED for s in states) else PENDING
    return next((s for s in states if s != DONE), DONE)
