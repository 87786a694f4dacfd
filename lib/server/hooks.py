"""The end hook: a program of the user's that grund runs when a job ends.

It is the executable ``~/grunt/srv/<server>/hooks/job-end`` (config.hook_path),
run as ``job-end <jobid> <state> <project> <message>`` with the same and more
in its environment (GRUNT_JOB, GRUNT_STATE, GRUNT_PROJECT, GRUNT_MESSAGE,
GRUNT_EXIT_CODE, GRUNT_ATTEMPT, GRUNT_RETRIED, GRUNT_SERVER, GRUNT_JOB_DIR).
``hooks/job-end.when`` holds when: ``every`` end of an attempt (the default),
``final`` (no retry follows) or ``failed`` (final, and not Done).

grund never waits for it: it starts in a session of its own, its output goes
to ``hooks/job-end.log``, and each round reaps the hooks that ended (a failure
is logged) and kills those past ``--hook-timeout`` seconds.
"""
import logging
import os
import signal
import subprocess
import time

from .. import config
from ..gruntlib import protocol as P
from ..gruntlib.jobdir import JobDir

log = logging.getLogger("grund")
HOOK_TIMEOUT = 30.0   # seconds; grund --hook-timeout
WHEN = ("every", "final", "failed")


class EndHooks:
    """The hooks one grund has started and not reaped yet."""

    def __init__(self, server: str, timeout: float = HOOK_TIMEOUT):
        self.server, self.timeout = server, timeout
        self.running = []   # type: list[tuple[subprocess.Popen, float, str]]

    def when(self) -> str:
        text = (P.read_text(config.hook_path(self.server) + ".when") or "").strip() or "every"
        if text not in WHEN:
            log.warning("%s.when says %r: one of %s; taken as every", config.hook_path(self.server),
                        text, ", ".join(WHEN))
            return "every"
        return text

    def ended(self, job: JobDir, state: str, exitcode: "object", attempt: int,
              retried: bool) -> None:
        """A job (an attempt of it) ended: start the hook when there is one and it is wanted."""
        path = config.hook_path(self.server)
        if not os.access(path, os.X_OK) or os.path.isdir(path):
            return
        when = self.when()
        if retried and when != "every" or when == "failed" and state == "Done":
            return
        message = ((job.read(P.MESSAGE) or "").splitlines() or [""])[0]
        env = dict(os.environ, GRUNT_JOB=job.jobid, GRUNT_STATE=state,
                   GRUNT_PROJECT=job.where.proj, GRUNT_MESSAGE=message,
                   GRUNT_EXIT_CODE="" if exitcode is None else str(exitcode),
                   GRUNT_ATTEMPT=str(attempt), GRUNT_RETRIED="1" if retried else "0",
                   GRUNT_SERVER=self.server, GRUNT_JOB_DIR=job.path)
        try:
            with open(path + ".log", "ab") as out:
                p = subprocess.Popen([path, job.jobid, state, job.where.proj, message], env=env,
                                     cwd=job.path, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            log.warning("end hook %s for %s could not start: %s", path, job.jobid, e)
            return
        self.running.append((p, time.time() + self.timeout, f"{job.jobid} {state}"))

    def reap(self, wait: bool = False) -> None:
        """Log the hooks that ended badly, kill those past their time; ``wait``: until
        every one has ended or been killed (grund --once, before it exits)."""
        while self.running:
            left = []
            for p, deadline, what in self.running:
                rc = p.poll()
                if rc is None and time.time() > deadline:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
                    p.wait()
                    log.warning("end hook for %s did not end within %g s and was killed",
                                what, self.timeout)
                elif rc is None:
                    left.append((p, deadline, what))
                elif rc != 0:
                    log.warning("end hook for %s failed (exit %d; its output is in %s.log)",
                                what, rc, config.hook_path(self.server))
            self.running = left
            if not wait:
                return
            time.sleep(0.05)
