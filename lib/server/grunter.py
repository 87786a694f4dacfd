"""Running a job's ``grunter.py <cmd>`` for grund: bounded in time and output,
and known even when grund does not live to see it end.

grunter runs in the job directory with gruntlib importable (lib/runtime.py),
in a session of its own, under a small shell that writes its exit code when
it ends.  Each call leaves a record in the jobs working copy's .git
(``grund-running/<jobid>.*``) until grund has handled its result:

* ``<jobid>``: a lock a call holds as long as it runs (grund may die meanwhile);
* ``<jobid>.<cmd>.call``: when it started, its time limit, its process group;
* ``<jobid>.<cmd>.out``, ``.err``: what it printed; ``<jobid>.<cmd>.rc``: its exit code.

So a grund that restarts while a ``submit`` ran, or after it ended, takes its
outcome as it is (its error reaches job.error) instead of running it again.
"""
import fcntl
import json
import os
import signal
import subprocess
import threading
import time
from typing import NamedTuple

from .. import runtime
from ..gruntlib import protocol as P, retry
from ..gruntlib.jobdir import JobDir

GRUNTER_TIMEOUT = 600  # seconds; grund --grunter-timeout
LOG_MAX = 64 * 1024    # bytes of one grunter call's output kept in job.log
STDOUT_MAX = 1 << 20   # bytes of grunter's stdout read (result names)
# writes grunter's exit code once it ends, whoever waits for it: sh -c RC <rc file> argv...
RC = 'rc=0; "$@" || rc=$?; echo "$rc" > "$0.new" && mv -f "$0.new" "$0"'
UNSIGNED = ("grunter.py submit exited 0 but left no sign of a submitted job (no job.slurmid, "
            "job.sgeid, job.pid or job.start); what it printed:")


class Result(NamedTuple):
    rc: int
    out: str      # stdout, for `results`


class Call:
    """The record of a job's grunter.py call (see the module's text)."""

    def __init__(self, job: JobDir, cmd: str):
        self.job, self.cmd = job, cmd
        self.dir = P.state_file(P.JobPath.top_of(job.path), P.RUNNING)
        self.base = os.path.join(self.dir, job.jobid)   # the job's lock

    def path(self, ext: str) -> str:
        return f"{self.base}.{self.cmd}.{ext}"

    def record(self) -> "dict | None":
        try:
            data = json.loads(P.read_text(self.path("call")) or "null")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def running(self) -> bool:
        """Does a call of this job still run (an earlier grund's, killed)?"""
        try:
            with open(self.base, "r") as f:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return False
        except BlockingIOError:
            return True
        except FileNotFoundError:
            return False

    def rc(self) -> "int | None":
        text = (P.read_text(self.path("rc")) or "").strip()
        return int(text) if text.lstrip("-").isdigit() else None

    def start(self, rt: str, timeout: float, lockf) -> subprocess.Popen:
        self.forget()
        started = time.time()
        # the attempt it is for: a record left by an earlier attempt's submit
        # is never taken for the outcome of a retry's (retries.py)
        attempt = retry.attempt_of(self.job.read(P.ATTEMPT))
        P.write_atomic(self.path("call"), json.dumps(
            {"started": started, "timeout": timeout, "attempt": attempt}) + "\n", mode=0o600)
        with open(self.path("out"), "wb") as fo, open(self.path("err"), "wb") as fe:
            p = subprocess.Popen(["sh", "-c", RC, self.path("rc"),
                                  *runtime.grunter_argv(rt, self.cmd)],
                                 cwd=self.job.path, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                 start_new_session=True, pass_fds=(lockf.fileno(),))
        P.write_atomic(self.path("call"), json.dumps(
            {"started": started, "timeout": timeout, "attempt": attempt, "pgid": p.pid}) + "\n",
            mode=0o600)
        return p

    def outputs(self) -> "tuple[str, str, str]":
        """(stdout, stderr, both for job.log) of the call, memory bounded."""
        with open(self.path("out"), "rb") as fo, open(self.path("err"), "rb") as fe:
            out = fo.read(STDOUT_MAX).decode("utf-8", "replace")
            err = clip(fe)
            return out, err, clip(fo) + err

    def forget(self) -> None:
        for ext in ("call", "out", "err", "rc", "rc.new"):
            try:
                os.unlink(self.path(ext))
            except FileNotFoundError:
                pass


def sweep(job: JobDir) -> None:
    """Remove what calls of an ended job that nobody handled left (a submit that
    ran the job itself, outliving the grund that started it)."""
    d = Call(job, "").dir
    try:
        names = [n for n in os.listdir(d) if n.startswith(job.jobid + ".")]
    except FileNotFoundError:
        return
    if names and not Call(job, "").running():
        for n in names:
            os.unlink(os.path.join(d, n))


def run_grunter(job: JobDir, cmd: str, rt: str, timeout: float, quiet: bool = False) -> Result:
    """Run ``grunter.py <cmd>`` in the job; its output goes to job.log.

    ``quiet``: a routine call (the periodic refresh) that succeeds silently
    leaves no line in job.log, so it makes no commit either.
    """
    if not os.path.isfile(job.file("grunter.py")):
        msg = "no grunter.py in the job: add grunter.py to the project and submit again"
        if cmd == "submit":
            P.write_atomic(job.file(P.ERROR), msg + "\n")
        job.log(f"{cmd}: {msg}")
        return Result(127, "")
    call = Call(job, cmd)
    os.makedirs(call.dir, exist_ok=True)
    # The job's lock, held by grunter as long as it runs, even when grund
    # is killed meanwhile: a resumed submit sees that it still runs.
    with open(call.base, "a") as lockf:
        try:
            fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # an earlier grund's grunter still runs for this job
            pass
        p = call.start(rt, timeout, lockf)
    # a timer kills it: Popen.wait(timeout) would poll, adding up to 50 ms a call
    expired = threading.Event()
    timer = threading.Timer(timeout, _kill_group, (p.pid, expired))
    timer.start()
    try:
        p.wait()
    finally:
        timer.cancel()
    return _handled(call, None if expired.is_set() else call.rc(), quiet,
                    f"did not finish within {timeout:g} s and was stopped (grund --grunter-timeout)")


def finish_earlier_submit(job: JobDir, timeout: float) -> "Result | None":
    """A submit that an earlier grund started and did not live to handle: its
    outcome, once it has ended (waited for, within its time limit); None when
    it never started (then it is run now)."""
    call = Call(job, "submit")
    rec = call.record()
    if rec is None:
        return None
    if rec.get("attempt", 1) != retry.attempt_of(job.read(P.ATTEMPT)):
        # an earlier attempt's submit (it ended with that attempt; the job's lock
        # may be held by another call of it now): this attempt's never started
        call.forget()
        return None
    limit = float(rec.get("timeout", timeout))
    deadline = float(rec.get("started", 0)) + limit
    while call.running() and time.time() < deadline:
        time.sleep(0.1)
    why = ("ended without an exit code: it was stopped with grund, so whether the job "
           "reached the scheduler is unknown (see grunt queue)")
    if call.running() and rec.get("pgid"):
        _kill_group(int(rec["pgid"]), threading.Event())
        while call.running() and time.time() < deadline + 10:
            time.sleep(0.1)
        why = f"did not finish within {limit:g} s and was stopped (grund --grunter-timeout)"
    job.log("submit: grund was restarted while grunter.py submit ran; "
            "its outcome is taken as it ended, it is not run again")
    return _handled(call, call.rc(), False, why)


def _handled(call: Call, rc: "int | None", quiet: bool, why_no_rc: str) -> Result:
    """Log a call's result in job.log; a submit that failed gets job.error (unless
    grunter wrote one), one that left no sign of a job job.unconfirmed."""
    job, cmd = call.job, call.cmd
    out, err, logged = call.outputs()
    if rc is None:
        rc = -1
        err += f"grunter.py {cmd} {why_no_rc}\n"
        logged += err[-300:]
    if not (quiet and rc == 0 and not logged.strip()):
        job.log(f"grunter.py {cmd}: exit {rc}", logged)
    if cmd == "submit" and rc != 0 and not job.has(P.ERROR):
        last = next((ln for ln in reversed(err.splitlines()) if ln.strip()), "")
        P.write_atomic(job.file(P.ERROR),
                       f"grunter.py submit failed (exit {rc})" + (f": {last}" if last else "") + "\n")
    elif cmd == "submit" and rc == 0 and not job.submitted():
        P.write_atomic(job.file(P.UNCONFIRMED), UNSIGNED + "\n" + (logged or "(nothing)\n"))
    call.forget()
    return Result(rc, out)


def _kill_group(pgid: int, expired: threading.Event) -> None:
    expired.set()
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def clip(f) -> str:
    """A file's text, cut to LOG_MAX (head and tail) with a line saying so."""
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if size <= LOG_MAX:
        return f.read().decode("utf-8", "replace")
    head = f.read(LOG_MAX // 2).decode("utf-8", "replace")
    f.seek(size - LOG_MAX // 2)
    tail = f.read().decode("utf-8", "replace")
    return (f"{head}\n[grund: {size - LOG_MAX} bytes of output cut here; "
            f"job.log keeps {LOG_MAX} of {size}]\n{tail}")
