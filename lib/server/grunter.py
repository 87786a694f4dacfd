"""Running a job's ``grunter.py <cmd>`` for grund: bounded in time and output.

grunter runs in the job directory with gruntlib importable (lib/runtime.py).
While it runs it holds a lock of its own job (in the jobs working copy's
.git), also after grund is killed, so a restarted grund knows that a submit
it was running has not ended yet.
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import tempfile
import threading

from .. import runtime
from ..gruntlib import protocol as P
from ..gruntlib.jobdir import JobDir

GRUNTER_TIMEOUT = 600  # seconds; grund --grunter-timeout
LOG_MAX = 64 * 1024    # bytes of one grunter call's output kept in job.log
STDOUT_MAX = 1 << 20   # bytes of grunter's stdout read (result names)


def running_lock(job: JobDir, create: bool = False) -> str:
    """The file whose flock a job's grunter.py calls hold (outside the job directory)."""
    d = P.state_file(P.JobPath.top_of(job.path), P.RUNNING)
    if create:
        os.makedirs(d, exist_ok=True)
    return os.path.join(d, job.jobid)


def grunter_running(job: JobDir) -> bool:
    """Does a grunter.py call of this job still run (an earlier grund's, killed)?"""
    try:
        with open(running_lock(job), "r") as f:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
    except BlockingIOError:
        return True
    except FileNotFoundError:
        return False


def run_grunter(job: JobDir, cmd: str, rt: str, timeout: float,
                quiet: bool = False) -> "tuple[int, str]":
    """Run ``grunter.py <cmd>`` in the job; (exit code, stdout).  Its output goes to job.log.

    ``quiet``: a routine call (the periodic refresh) that succeeds silently
    leaves no line in job.log, so it makes no commit either.  A submit that
    fails gets job.error, unless grunter wrote one.
    """
    if not os.path.isfile(job.file("grunter.py")):
        msg = "no grunter.py in the job: add grunter.py to the project and submit again"
        if cmd == "submit":
            P.write_atomic(job.file(P.ERROR), msg + "\n")
        job.log(f"{cmd}: {msg}")
        return 127, ""
    # The job's lock, held by grunter as long as it runs, even when grund
    # is killed meanwhile: a resumed submit sees that it still runs.
    with open(running_lock(job, create=True), "a") as lockf:
        try:
            fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # an earlier grund's grunter still runs for this job
            pass
        rc, out, err, logged = run_capped(runtime.grunter_argv(rt, cmd), job.path, timeout,
                                          (lockf.fileno(),))
    if rc is None:
        rc = -1
        err += (f"grunter.py {cmd} did not finish within {timeout:g} s "
                "and was stopped (grund --grunter-timeout)\n")
        logged += err[-200:]
    if not (quiet and rc == 0 and not logged.strip()):
        job.log(f"grunter.py {cmd}: exit {rc}", logged)
    if cmd == "submit" and rc != 0 and not job.has(P.ERROR):
        last = next((ln for ln in reversed(err.splitlines()) if ln.strip()), "")
        P.write_atomic(job.file(P.ERROR),
                       f"grunter.py submit failed (exit {rc})" + (f": {last}" if last else "") + "\n")
    return rc, out


def run_capped(argv: "list[str]", cwd: str, timeout: float,
               pass_fds: "tuple[int, ...]" = ()) -> "tuple[int | None, str, str, str]":
    """(exit code or None on timeout, stdout, stderr, both for job.log), memory bounded.

    Output goes to temporary files, not pipes: a program printing 10 MB costs
    no memory, and a background process it leaves holding the output cannot
    keep grund waiting.  On timeout its whole process group is killed.
    stdout is read up to STDOUT_MAX; what job.log keeps is cut by ``clip``
    (stdout first, then stderr).
    """
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                             start_new_session=True, pass_fds=pass_fds)
        # a timer kills it: Popen.wait(timeout) would poll, adding up to 50 ms a call
        expired = threading.Event()
        timer = threading.Timer(timeout, _kill_group, (p.pid, expired))
        timer.start()
        try:
            rc = p.wait()  # type: int | None
        finally:
            timer.cancel()
        if expired.is_set():
            rc = None
        fo.seek(0)
        out = fo.read(STDOUT_MAX).decode("utf-8", "replace")
        err = clip(fe)
        return rc, out, err, clip(fo) + err


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
