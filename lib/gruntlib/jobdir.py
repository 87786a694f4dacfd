"""A job directory and its well-known files, as the runners and grund see it.

The runners' task is to make the job files true (names in protocol.py) and
to keep them true after the scheduler has forgotten the job.  A *unit* is
what has its own start/end/exitcode/status files: the job, or each task of
an array job (``job.<task>.*``).
"""
import os

from . import protocol, states


PRINTED_TASKS = 20     # print_status lists the tasks of a job with at most this many


class RunnerError(Exception):
    """A failure to report as ``grunter: error: <message>`` (exit 1)."""


class Outcome:
    """What is known about a unit at a moment."""

    def __init__(self, state: str, reason: str = "", exitcode: "int | None" = None,
                 end: "str | None" = None):
        self.state = state
        self.reason = reason
        self.exitcode = exitcode
        self.end = end        # protocol timestamp, for final states

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Outcome) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Outcome({self.state!r}, {self.reason!r}, {self.exitcode!r}, {self.end!r})"


class JobDir:
    """One job directory: ``<jobs working copy>/<folder>/<jobid>/<proj>``."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)

    @property
    def where(self) -> protocol.JobPath:
        return protocol.JobPath.of_dir(self.path)

    @property
    def jobid(self) -> str:
        """The grunt job id: the name of the job directory's parent."""
        return self.where.jobid

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def has(self, name: str) -> bool:
        return os.path.lexists(self.file(name))

    def read(self, name: str) -> "str | None":
        text = protocol.read_text(self.file(name))
        return None if text is None else text.strip()

    def write(self, name: str, text: str) -> None:
        """Write one job file atomically, and only when its content changes."""
        data = text.rstrip("\n") + "\n"
        if protocol.read_text(self.file(name)) != data:
            protocol.write_atomic(self.file(name), data)

    def args(self) -> "list[str]":
        """The job's arguments, one a line in job.args (an empty line is an empty arg)."""
        lines = (protocol.read_text(self.file(protocol.ARGS)) or "").split("\n")
        return lines[:-1] if lines[-1] == "" else lines

    def tasks(self) -> "list[int] | None":
        """Array task ids from job.array, None for a plain job."""
        spec = self.read(protocol.ARRAY)
        return protocol.array_tasks(spec) if spec else None

    def units(self) -> "list[int | None]":
        """What has its own start/end/exitcode/status files: the job, or each task."""
        tasks = self.tasks()
        return [None] if tasks is None else list(tasks)

    # -- what the files say -------------------------------------------------
    def texts(self) -> "dict[str, str]":
        """{name: text} of every ``job.*`` file (only files that exist are opened)."""
        try:
            names = [e.name for e in os.scandir(self.path) if e.name.startswith("job.")]
        except FileNotFoundError:
            names = []
        found = {}
        for name in names:
            text = protocol.read_text(self.file(name))
            if text is not None:
                found[name] = text
        return found

    def state(self) -> states.JobState:
        """The state the user sees (states.job_state over the job's files)."""
        texts = self.texts()
        spec = states.first_line(texts.get(protocol.ARRAY))
        return states.job_state(texts, protocol.array_tasks(spec) if spec else None)

    def submitted(self) -> bool:
        """The job was handed to a scheduler, or that failed for good: never submit again."""
        return any(self.has(f) for f in protocol.SUBMITTED_SIGNS)

    def at_rest(self) -> bool:
        """Nothing runs for the job: it has finished, or it was never submitted."""
        return not self.submitted() or self.state().status in states.FINISHED

    def status(self, task: "int | None" = None) -> "tuple[str, str] | None":
        line = self.read(protocol.task_file(task, "status"))
        if not line:
            return None
        word, _, reason = line.partition(" ")
        return word, reason.strip()

    def exitcode(self, task: "int | None" = None) -> "int | None":
        text = self.read(protocol.task_file(task, "exitcode"))
        try:
            return int(text) if text else None
        except ValueError:
            return None

    def settled(self, task: "int | None" = None) -> bool:
        """The unit's status is final and its end is recorded: nothing more to ask."""
        st = self.status(task)
        return (st is not None and st[0] in states.FINAL
                and self.has(protocol.task_file(task, "end")))

    def all_settled(self) -> bool:
        """The job and (for an array) every task have a final status and an end."""
        return self.settled(None) and all(self.settled(u) for u in self.units())

    # -- recording -----------------------------------------------------------
    def fail(self, message: str) -> None:
        """Record a failed submission: job.error is the message, job.status FAILED."""
        self.write(protocol.ERROR, message)
        self.write(protocol.STATUS, "FAILED")

    def record(self, task: "int | None", outcome: Outcome) -> None:
        """Write a unit's status; for a final state fill in what the script could not.

        The job's script writes job.exitcode and job.end itself; when the
        scheduler or a kill ended it first they are missing, and the outcome's
        values (or now) stand in.  job.exitcode comes first so that whoever
        sees job.end also sees the exit code.
        """
        self.write(protocol.task_file(task, "status"), f"{outcome.state} {outcome.reason}".strip())
        if outcome.state in states.FINAL and not self.has(protocol.task_file(task, "end")):
            if outcome.exitcode is not None and self.exitcode(task) is None:
                self.write(protocol.task_file(task, "exitcode"), str(outcome.exitcode))
            self.write(protocol.task_file(task, "end"), outcome.end or protocol.now_ts())

    def summarize(self) -> None:
        """For an array job, derive job.status (and at the end job.end and job.exitcode).

        The array's exit code is the highest of its tasks', as ``sbatch --wait``
        returns it.
        """
        tasks = self.tasks()
        if tasks is None:
            return
        words = [(self.status(t) or ("PENDING", ""))[0] for t in tasks]
        counts = ", ".join(f"{words.count(s)} {s}" for s in dict.fromkeys(words))
        if all(s in states.FINAL for s in words):
            worst = next((s for s in states.ARRAY_PRECEDENCE if s in words), "COMPLETED")
            codes = [c for c in map(self.exitcode, tasks) if c is not None]
            ends = [e for e in (self.read(protocol.task_file(t, "end")) for t in tasks) if e]
            self.record(None, Outcome(worst, "" if worst == "COMPLETED" else counts,
                                      max(codes) if codes else None, max(ends) if ends else None))
        elif all(s == "PENDING" for s in words) and not self.has(protocol.START):
            reason = next((st[1] for st in map(self.status, tasks) if st and st[1]), "")
            self.record(None, Outcome("PENDING", reason))
        else:
            self.record(None, Outcome("RUNNING", counts))

    def print_status(self) -> None:
        """job.status and each task's; past PRINTED_TASKS tasks only the summary
        (its counts), since grund keeps what grunter prints in job.log."""
        print(self.read(protocol.STATUS) or "PENDING")
        tasks = self.tasks() or ()
        for t in tasks if len(tasks) <= PRINTED_TASKS else ():
            print(f"task {t}: {self.read(protocol.task_file(t, 'status')) or 'PENDING'}")

    def log(self, line: str, text: str = "") -> None:
        """Add to job.log, grund's account of what it did for the job."""
        with open(self.file(protocol.LOG), "a", encoding="utf-8") as f:
            f.write(f"{protocol.now_ts()} {line}\n")
            if text.strip():
                f.write("".join(f"  {ln}\n" for ln in text.rstrip("\n").splitlines()))


def ended(job: JobDir, unit: "int | None") -> "Outcome | None":
    """What the unit's own end files say; None when it has not recorded an end.

    An end at or after job.canceled (written before the signal is sent) was
    the cancel; an earlier one ended by itself.
    """
    end = job.read(protocol.task_file(unit, "end"))
    if end is None:
        return None
    code = job.exitcode(unit)
    canceled = job.read(protocol.CANCELED)
    if canceled and end >= canceled:
        return Outcome("CANCELLED", "", code, end)
    if code == 0:
        return Outcome("COMPLETED", "", 0, end)
    return Outcome("FAILED", "NonZeroExitCode" if code is not None else "no exit code recorded",
                   code, end)
