"""What the client runs on the server over its one ssh connection.

The job's files reach the jobs repository only when grund commits them, so
two commands look at grund's working copy directly, through small Python
scripts run with ``python3 -c`` (ssh starts python3 itself, no shell in
between), using gruntlib from grund's runtime directory:

* ``out -f``: follow a job's output as it grows, until the job ends;
* ``queue``: ``grunter.py queue`` in a job directory, as grund runs it.
"""
from __future__ import annotations

import re
import sys

from .. import config, git as G, jobs as J, runtime
from ..errors import GruntError
from ..gruntlib import protocol as P
from .project import Project

FOLLOW_POLL = 0.5   # seconds between looks at a followed job's output on the server
QUEUE_TIMEOUT = 120  # seconds: a scheduler that does not answer must not hang the terminal

# runs on the server, from its home: grunter.py queue in a job, as grund runs it.
# argv: <runtime dir> <job dir> grunter.py queue
# the original's sample grunter writes its summary to job.queue instead of
# printing it: what it wrote there is printed after what it printed
QUEUE_PY = ("import os, sys\n"
            "rt, job = (os.path.abspath(a) for a in sys.argv[1:3])\n"
            "if not os.path.isdir(job):\n"
            "    sys.exit(f'{job} is not there yet (is grund running?)')\n"
            "os.chdir(job)\n"
            "def _when():\n"
            "    try:\n"
            "        return os.stat('job.queue').st_mtime_ns\n"
            "    except OSError:\n"
            "        return None\n"
            "_before = _when()\n"
            "sys.argv[1:3] = [rt]\n"
            "try:\n"
            + "".join("    " + ln + "\n" for ln in runtime.BOOTSTRAP.splitlines()) +
            "finally:\n"
            "    if _when() not in (None, _before):\n"
            "        sys.stdout.flush()\n"
            "        with open('job.queue', 'rb') as f:\n"
            "            sys.stdout.buffer.write(f.read())\n"
            "        sys.stdout.flush()\n")

# runs on the server: reads job.out (and an array's job.<T>.out) in grund's
# working copy as it grows, and stops once the job has finished (its state, as
# gruntlib.states derives it from the job's own files).
# argv: <runtime dir> <jobs working copy> <jobid> <proj> <poll seconds>
FOLLOW_PY = r'''
import os, re, sys, time
END_MARK = "grunt-follow-ended"
rt, wc, jid, proj, poll = sys.argv[1:6]
sys.path.append(rt)
try:
    from gruntlib import protocol as P, states as S
    from gruntlib.jobdir import JobDir
except ImportError:
    sys.exit(("grund's runtime here is older than this grunt: update grund on this server"
              if os.path.isdir(rt) else "grund has not run on this server yet (no " + rt + ")"))

out = sys.stdout.buffer
pos, last = {}, None
while True:
    where = P.locate(wc, jid, proj)
    if where is not None:
        d = where.under(wc)
        done = JobDir(d).state().status in S.FINISHED  # before reading: the last bytes come after
        files = sorted(n for n in os.listdir(d)
                       if n != "job.error" and re.match(r"job(\..+)?\.(out|err|error)$", n))
        for name in files:
            try:
                with open(os.path.join(d, name), "rb") as f:
                    f.seek(pos.get(name, 0))
                    data = f.read()
            except OSError:
                continue
            if not data:
                continue
            pos[name] = pos.get(name, 0) + len(data)
            if len(files) > 1 and name != last:
                out.write(("\n" if last else "").encode() + ("==> %s <==\n" % name).encode())
            last = name
            out.write(data)
            out.flush()
        if done:
            try:
                with open(os.path.join(d, "job.error"), "rb") as f:
                    err = f.read()
            except OSError:
                err = b""
            if err:
                out.write(err if err.endswith(b"\n") else err + b"\n")
            out.flush()
            st = JobDir(d).state()
            code = "" if st.exit_code is None else str(st.exit_code)
            sys.stderr.write("\n%s %s %s\n" % (END_MARK, st.status, code))
            break
    time.sleep(float(poll))
'''


def _last_line(p) -> str:
    err = p.stderr.decode("utf-8", "replace").strip().splitlines()
    return err[-1] if err else f"exit {p.returncode}"


END_MARK = "grunt-follow-ended"   # FOLLOW_PY's last line on stderr: "<mark> <state> [<exit>]"


def follow(pr: Project, job: J.Job) -> "tuple[str, int | None]":
    """Print the job's output as it grows on the server, until the job ends;
    its final (state, exit code)."""
    sys.stdout.flush()
    with pr.unlocked():  # other grunt commands may run while this one follows
        p = pr.remote.run(["python3", "-c", FOLLOW_PY, config.runtime_relpath(pr.server),
                           config.wc_relpath(pr.server, pr.proj, "jobs"), job.id, pr.proj,
                           str(FOLLOW_POLL)], check=False, stream=True)
    if p.returncode != 0:
        raise GruntError(f"following {job.id} on {pr.server} failed: {_last_line(p)}")
    m = re.search(rf"^{END_MARK} (\S+) ?(-?\d*)$", p.stderr.decode("utf-8", "replace"), re.M)
    if m is None:   # a runtime on the server older than this grunt: the state as pulled
        pr.sync()
        now = pr.find(job.id) or job
        return now.status, now.exit_code
    return m.group(1), int(m.group(2)) if m.group(2) else None


def queue(pr: Project) -> str:
    """What ``grunter.py queue`` prints, run in the newest active job that shipped one."""
    # the jobs working copy is sparse: grunter.py is in the index, not on disk
    shipped = set(G.zsplit(G.git("ls-files", "-z", "--", ":(glob)active/*/*/grunter.py",
                                 cwd=pr.jobs)))
    jobs = [j for j in J.scan(pr.jobs, ("active",)) if j.where.file("grunter.py") in shipped]
    if not jobs:
        raise GruntError("queue runs the project's grunter.py on the server: submit a job first")
    job = f"{config.wc_relpath(pr.server, pr.proj, 'jobs')}/{jobs[-1].where.rel}"
    p = pr.remote.run(["python3", "-c", QUEUE_PY, config.runtime_relpath(pr.server), job,
                       "grunter.py", "queue"], check=False, timeout=QUEUE_TIMEOUT)
    if p.returncode != 0:
        sys.stdout.write(p.stdout.decode("utf-8", "replace"))
        raise GruntError(f"queue failed on {pr.server}: {_last_line(p)}")
    return p.stdout.decode("utf-8", "replace")
