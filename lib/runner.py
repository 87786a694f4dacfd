"""The body of a project's grunter.py: submit, status, cancel, results, queue.

A grunter script is a dict of settings and two lines::

    from gruntlib import runner
    sys.exit(runner.main(SETTINGS))

grund runs ``python3 grunter.py <cmd>`` in the job directory
``<jobs wc>/<folder>/<jobid>/<proj>/``, so the current directory is the job.
The runner's task is to make the job files true (names in protocol.py) and to
keep them true after the scheduler has forgotten the job: the engines
(slurm.py, local.py) start the job and ask about it, and the job's own script
(``job_script``) records job.start, job.end and job.exitcode itself.

This module is imported as ``gruntlib.runner`` (see runtime.py), so it uses
the standard library and relative imports only.  The engines import this
module; ``main`` imports them when it needs one.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence

from . import protocol

COMMANDS = ("submit", "status", "cancel", "results", "queue")

# Every setting a grunter script may give, with its default.
DEFAULTS: dict[str, object] = {
    "runner": "auto",        # auto (slurm when sbatch is on PATH) | slurm | local
    "time": None,            # sbatch --time: "30" minutes, "2:00:00", "1-00:00:00"
    "memory": None,          # sbatch --mem: "4G"
    "cpus": None,            # sbatch --cpus-per-task
    "tasks": None,           # sbatch --ntasks
    "partition": None,       # sbatch --partition
    "qos": None,             # sbatch --qos
    "account": None,         # sbatch --account
    "sbatch": [],            # more sbatch options, one a line: ["--gres=gpu:1"]
    "array": None,           # sbatch --array: "0-3"; task T writes job.T.*
    "prepare": "",           # shell lines run in the job before the command: "make"
    "command": "sh run.sh",  # shell command (or argv list); the job's args follow, quoted
    "results": [],           # glob patterns of result files; empty: the files the job made
    "kill_wait": 10,         # local runner: seconds from SIGTERM to SIGKILL on cancel
}
SBATCH_OPTIONS = (("time", "--time"), ("memory", "--mem"), ("cpus", "--cpus-per-task"),
                   ("tasks", "--ntasks"), ("partition", "--partition"), ("qos", "--qos"),
                   ("account", "--account"))
ARRAY_RE = re.compile(r"^\d+(-\d+(:\d+)?)?(,\d+(-\d+(:\d+)?)?)*(%\d+)?$")

# When array tasks end differently, the array takes the first of these states.
_ARRAY_PRECEDENCE = ("CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
                     "DEADLINE", "PREEMPTED", "FAILED")


class RunnerError(Exception):
    """A failure to report as ``grunter: error: <message>`` (exit 1)."""


def settings_with_defaults(settings: dict) -> dict:
    return {**DEFAULTS, **settings}


def check_settings(settings: dict) -> dict:
    """The settings with defaults; RunnerError on unknown names or bad values.

    A misspelt resource (``mem`` for ``memory``) would otherwise be dropped
    silently and the job would run with the site's defaults.
    """
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise RunnerError(f"unknown setting {', '.join(map(repr, unknown))} in grunter.py "
                          f"(known: {', '.join(DEFAULTS)})")
    conf = settings_with_defaults(settings)
    if conf["runner"] not in ("auto", "slurm", "local"):
        raise RunnerError(f"setting runner must be auto, slurm or local, not {conf['runner']!r}")
    for name, _ in SBATCH_OPTIONS:
        value = conf[name]
        if value is not None and (not isinstance(value, (str, int)) or "\n" in str(value)
                                  or not str(value).strip()):
            raise RunnerError(f"setting {name} must be one line of text or a number, not {value!r}")
    if isinstance(conf["sbatch"], str):
        conf["sbatch"] = [conf["sbatch"]]
    if isinstance(conf["results"], str):
        conf["results"] = [conf["results"]]
    for name in ("sbatch", "results"):
        if not all(isinstance(v, str) and "\n" not in v for v in conf[name]):
            raise RunnerError(f"setting {name} must be a list of one-line strings")
    if conf["array"] is not None:
        conf["array"] = str(conf["array"]).replace(" ", "")
        if not ARRAY_RE.match(conf["array"]):
            raise RunnerError(f"setting array is not an array spec like 0-3 or 1,5,7: {conf['array']!r}")
    if not isinstance(conf["command"], (str, list, tuple)) or not conf["command"]:
        raise RunnerError("setting command must be a shell command or an argv list")
    if not isinstance(conf["kill_wait"], (int, float)) or conf["kill_wait"] < 0:
        raise RunnerError("setting kill_wait must be a number of seconds")
    if not isinstance(conf["prepare"], str):
        raise RunnerError("setting prepare must be shell text")
    return conf


@dataclasses.dataclass
class Outcome:
    """What is known about a job (or one array task) at a moment."""

    state: str
    reason: str = ""
    exitcode: int | None = None
    end: str | None = None       # protocol timestamp, for final states


class Job:
    """A job directory and its well-known files (protocol.py names them)."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)

    @property
    def jobid(self) -> str:
        """The grunt job id: the name of the job directory's parent."""
        return os.path.basename(os.path.dirname(self.path))

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def has(self, name: str) -> bool:
        return os.path.lexists(self.file(name))

    def read(self, name: str) -> str | None:
        text = protocol.read_text(self.file(name))
        return None if text is None else text.strip()

    def write(self, name: str, text: str) -> None:
        """Write one job file atomically, and only when its content changes."""
        data = text.rstrip("\n") + "\n"
        if protocol.read_text(self.file(name)) != data:
            protocol.write_atomic(self.file(name), data)

    def args(self) -> list[str]:
        """The job's arguments, one a line in job.args (an empty line is an empty arg)."""
        lines = (protocol.read_text(self.file(protocol.ARGS)) or "").split("\n")
        return lines[:-1] if lines[-1] == "" else lines

    def tasks(self) -> list[int] | None:
        """Array task ids from job.array, None for a plain job."""
        spec = self.read(protocol.ARRAY)
        return protocol.array_tasks(spec) if spec else None

    def units(self) -> list[int | None]:
        """What has its own start/end/exitcode/status files: the job, or each task."""
        tasks = self.tasks()
        return [None] if tasks is None else list(tasks)

    def status(self, task: int | None = None) -> tuple[str, str] | None:
        line = self.read(protocol.task_file(task, "status"))
        if not line:
            return None
        state, _, reason = line.partition(" ")
        return state, reason.strip()

    def exitcode(self, task: int | None = None) -> int | None:
        text = self.read(protocol.task_file(task, "exitcode"))
        try:
            return int(text) if text else None
        except ValueError:
            return None

    def finished(self, task: int | None = None) -> bool:
        """The unit's status is final and its end is recorded: nothing more to ask."""
        st = self.status(task)
        return (st is not None and st[0] in protocol.FINAL_STATES
                and self.has(protocol.task_file(task, "end")))

    def all_finished(self) -> bool:
        """The job and (for an array) every task have a final status and an end."""
        return self.finished(None) and all(self.finished(u) for u in self.units())

    def fail(self, message: str) -> None:
        """Record a failed submission: job.error is the message, job.status FAILED."""
        self.write(protocol.ERROR, message)
        self.write(protocol.STATUS, "FAILED")

    def record(self, task: int | None, outcome: Outcome) -> None:
        """Write a unit's status; for a final state fill in what the script could not.

        The job's script writes job.exitcode and job.end itself; when the
        scheduler or a kill ended it first they are missing, and the outcome's
        values (or now) stand in.  job.exitcode comes first so that whoever
        sees job.end also sees the exit code.
        """
        self.write(protocol.task_file(task, "status"),
                   f"{outcome.state} {outcome.reason}".strip())
        if outcome.state in protocol.FINAL_STATES and not self.has(protocol.task_file(task, "end")):
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
        states = [(self.status(t) or ("PENDING", ""))[0] for t in tasks]
        counts = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
        if all(s in protocol.FINAL_STATES for s in states):
            worst = next((s for s in _ARRAY_PRECEDENCE if s in states), "COMPLETED")
            codes = [c for c in map(self.exitcode, tasks) if c is not None]
            ends = [e for e in (self.read(protocol.task_file(t, "end")) for t in tasks) if e]
            self.record(None, Outcome(worst, "" if worst == "COMPLETED" else counts,
                                      max(codes) if codes else None, max(ends) if ends else None))
        elif all(s == "PENDING" for s in states) and not self.has(protocol.START):
            reason = next((st[1] for st in map(self.status, tasks) if st and st[1]), "")
            self.record(None, Outcome("PENDING", reason))
        else:
            self.record(None, Outcome("RUNNING", counts))

    def print_status(self) -> None:
        print(self.read(protocol.STATUS) or "PENDING")
        for t in self.tasks() or ():
            print(f"task {t}: {self.read(protocol.task_file(t, 'status')) or 'PENDING'}")


def ended(job: Job, unit: int | None) -> Outcome | None:
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


def job_script(job: Job, conf: dict, header: Sequence[str] = ()) -> str:
    """The job's shell script: records its own start, end and exit code.

    ``header`` lines (``#SBATCH ...``) go right after the shebang.  The
    ``prepare`` lines run in the same shell as the command, so what they set
    (``module load``, ``export``) holds for it.  The program
    runs in the background so that a SIGTERM (scancel, time limit, local
    cancel) reaches the trap at once; the trap passes it on, waits, and records
    the exit code (128+N for a signal).  After each record the script touches
    the jobs working copy's change marker and pokes grund's FIFO; opening the
    FIFO read-write never blocks, and a missing FIFO (grund down) is skipped.
    """
    array = conf.get("array") is not None
    command = conf["command"]
    if not isinstance(command, str):
        command = shlex.join(command)
    run = " ".join([command, *map(shlex.quote, job.args())])
    prepare = conf["prepare"].strip("\n")
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        *header,
        f"# grunt job {job.jobid}: this script records {protocol.START}, {protocol.END} and "
        f"{protocol.EXITCODE} itself" + (" (job.<task>.* for each array task)" if array else ""),
        f"J={q(job.path)}",
        f"M={q(protocol.changed_marker(job.path))}",
        f"F={q(protocol.fifo_path(job.path))}",
        'P="job.${SLURM_ARRAY_TASK_ID}."' if array else "P=job.",
        "ts() { date -u '+%Y-%m-%d %H:%M:%S UTC'; }",
        'put() { printf \'%s\\n\' "$2" >"$J/.$1.$$" && mv -f "$J/.$1.$$" "$J/$1"; }',
        'poke() { touch "$M" 2>/dev/null; [ -p "$F" ] && { printf x 1<>"$F"; } 2>/dev/null; return 0; }',
        "finish() { trap '' TERM; put \"${P}exitcode\" \"$1\"; put \"${P}end\" \"$(ts)\"; poke; exit \"$1\"; }",
        "# SIGTERM: pass it on and record what the program returns.  $? is its status",
        "# when the wait had already returned; a second SIGTERM only interrupts the wait.",
        "stop() {",
        "  code=$?; trap 'kill -TERM \"$child\" 2>/dev/null' TERM",
        '  [ -n "$child" ] || finish 143',
        '  kill -TERM "$child" 2>/dev/null',
        '  while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done',
        '  finish "$code"',
        "}",
        "child=",
        "trap stop TERM",
        'put "${P}start" "$(ts)"',
        *(['[ -e "$J/job.start" ] || put job.start "$(ts)"'] if array else []),
        "poke",
        'cd "$J" || finish 1',
    ]
    if prepare and array:
        # Tasks of an array share the directory: one prepare (a build) at a
        # time; flock's lock goes with fd 9, so a killed task cannot leave it.
        lines += ["{ flock 9 2>/dev/null", prepare, '} 9>"$J/.job.prepare.lock" &&']
    elif prepare:
        lines += ["{", prepare, "} &&"]
    lines += [f"{run} &", "child=$!", 'wait "$child"', "finish $?", ""]
    return "\n".join(lines)


def _git_env() -> dict[str, str]:
    """The environment for git in the job: no GIT_DIR & co. inherited from a hook."""
    return {k: v for k, v in os.environ.items()
            if not (k.startswith("GIT_") and k not in ("GIT_SSH", "GIT_SSH_COMMAND"))}


def _tracked(job: Job) -> set[str] | None:
    """Paths (relative to the job) in the jobs repository's index: the snapshot."""
    try:
        p = subprocess.run(["git", "ls-files", "-z", "--", "."], cwd=job.path, env=_git_env(),
                           capture_output=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return None
    if p.returncode != 0:
        return None
    return {n.decode("utf-8", "surrogateescape") for n in p.stdout.split(b"\0") if n}


def result_files(job: Job, patterns: Sequence[str]) -> list[str]:
    """Result file names relative to the job directory, sorted.

    With patterns: the files they match (``**`` spans directories; a matched
    directory stands for the files in it).  Without: every file in the job
    directory that git does not track, i.e. that was not in the submitted
    snapshot, except job files and ``__pycache__``.  Paths that resolve outside
    the job directory are left out and reported on stderr.
    """
    root = os.path.realpath(job.path)

    def inside(rel: str) -> bool:
        real = os.path.realpath(os.path.join(job.path, rel))
        norm = os.path.normpath(rel)
        if (not os.path.isabs(norm) and norm.split(os.sep)[0] != ".."
                and (real == root or real.startswith(root + os.sep))):
            return True
        print(f"grunter: warning: not a result, outside the job directory: {rel}", file=sys.stderr)
        return False

    found: set[str] = set()
    # glob's root_dir needs Python 3.10: match below the escaped job path instead
    base, cut = glob.escape(job.path), len(job.path) + 1
    for rel in [m[cut:] if m.startswith(job.path + os.sep) else m for p in patterns
                for m in glob.glob(os.path.join(base, p), recursive=True)] if patterns else ["."]:
        full = os.path.join(job.path, rel)
        if not inside(rel):
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            for d, dirs, files in os.walk(full):
                dirs[:] = [x for x in dirs if x != "__pycache__"]
                found.update(os.path.relpath(os.path.join(d, f), job.path) for f in files)
        else:
            found.add(os.path.normpath(rel))
    if not patterns:
        tracked = _tracked(job)
        if tracked is None:
            raise RunnerError("cannot list the job's submitted files (git ls-files failed)")
        found -= tracked
    return [rel for rel in sorted(found)
            if not protocol.is_job_file(rel) and "\n" not in rel and inside(rel)
            and os.path.isfile(os.path.join(job.path, rel))]


def engine_for(job: Job, conf: dict, cmd: str):
    """The engine module for this job: the one that submitted it, else the setting."""
    if cmd != "submit":
        if job.has(protocol.SLURMID):
            from . import slurm
            return slurm
        if job.has(protocol.PID):
            from . import local
            return local
    choice = conf["runner"]
    if choice == "auto":
        choice = "slurm" if shutil.which("sbatch") else "local"
    if choice == "slurm":
        from . import slurm
        return slurm
    if choice == "local":
        from . import local
        return local
    raise RunnerError(f"setting runner must be auto, slurm or local, not {choice!r}")


def main(settings: dict, argv: Sequence[str] | None = None) -> int:
    """Run one grunter command in the current directory (the job); the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        what = f"unknown command {argv[0]!r}" if argv else "no command"
        print(f"grunter: error: {what} (commands: {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    cmd = argv[0]
    job = Job(os.getcwd())
    try:
        if cmd == "submit":
            try:
                conf = check_settings(settings)
            except RunnerError as e:
                job.fail(str(e))
                raise
        else:
            conf = settings_with_defaults(settings)
        if cmd == "results":
            for name in result_files(job, conf["results"] or ()):
                print(name)
            return 0
        return getattr(engine_for(job, conf, cmd), cmd)(job, conf)
    except RunnerError as e:
        print(f"grunter: error: {e}", file=sys.stderr)
        return 1
