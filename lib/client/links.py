"""``gresults/<jobid>`` in the project checkout: links to the jobs' results.

The links point into the client's results copy; they follow a job that moved
between folders (after a pull).  A colleague's jobs are linked under
``gresults/<owner>/<jobid>``.
"""
from __future__ import annotations

import os

from ..errors import GruntError
from ..gruntlib import protocol as P
from ..jobs import Job
from .project import Project

DIR = "gresults"


def link_path(pr: Project, jobid: str) -> str:
    owner = getattr(pr, "owner", None)
    if owner:
        return os.path.join(pr.projdir, DIR, owner, jobid)
    return os.path.join(pr.projdir, DIR, jobid)


def link(pr: Project, job: Job) -> bool:
    """Point gresults/<jobid> at the job's results; True when it changed."""
    path, target = link_path(pr, job.id), pr.results_dir(job)
    if os.path.islink(path):
        if os.readlink(path) == target:
            return False
        os.unlink(path)
    elif os.path.lexists(path):
        raise GruntError(f"{path} exists and is not a link; move it away first")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)
    return True


def unlink(pr: Project, jobid: str) -> bool:
    """Remove gresults/<jobid>; True when there was one."""
    path = link_path(pr, jobid)
    if os.path.islink(path):
        os.unlink(path)
        return True
    return False


def refresh(pr: Project) -> int:
    """After a pull: links of jobs that moved folder follow them; how many changed."""
    base = os.path.join(pr.projdir, DIR)
    n = 0
    try:
        names = [e.name for e in os.scandir(base) if e.is_symlink() and P.JOBID_RE.match(e.name)]
    except FileNotFoundError:
        return 0
    for jid in names:
        job = pr.find(jid)
        if job is not None and link(pr, job):
            n += 1
    return n
