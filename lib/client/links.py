"""``gresults/<jobid>`` in the project checkout: links to the jobs' results.

The links point into the client's results copy; they follow a job that moved
between folders (after a pull).  A colleague's jobs are linked under
``gresults/<owner>/<jobid>``.
"""
from __future__ import annotations

import os

from .. import git as G
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
    return _link_to(pr, job.id, pr.results_dir(job))


def _link_to(pr: Project, jobid: str, target: str) -> bool:
    path = link_path(pr, jobid)
    keep_out_of_status(pr.projdir)
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


def has_results(pr: Project, job: Job) -> bool:
    """The job has results in the laptop's results copy (as last pulled)."""
    return os.path.isdir(pr.results_dir(job))


def refresh(pr: Project) -> int:
    """After a pull: every job that has results is linked (a link follows a job that
    moved folder), and the links of jobs that are gone or have no results are
    removed; how many changed."""
    targets = {w.jobid: w.under(pr.results) for w in P.job_dirs(pr.jobs) if w.proj == pr.proj}
    n = sum(_link_to(pr, jid, t) for jid, t in targets.items() if os.path.isdir(t))
    base = os.path.dirname(link_path(pr, "x"))
    try:
        names = [e.name for e in os.scandir(base) if e.is_symlink() and P.JOBID_RE.match(e.name)]
    except FileNotFoundError:
        return n
    for jid in names:
        if not os.path.isdir(targets.get(jid, "")):
            n += unlink(pr, jid)
    return n


# what grunt makes in a checkout: kept out of the user's git status
EXCLUDED = ("/" + DIR + "/", "/grunt.server")
_excluded = set()   # type: set[str]  # checkouts seen to exclude them (once per command)


def keep_out_of_status(projdir: str) -> None:
    """List ``gresults/`` and ``grunt.server`` in the checkout's ``.git/info/exclude``
    (never in a tracked ``.gitignore``), so ``git status`` does not show them."""
    if projdir in _excluded:
        return
    _excluded.add(projdir)
    try:
        path = os.path.join(projdir, G.out("rev-parse", "--git-path", "info/exclude", cwd=projdir))
    except G.GitError:
        return
    text = P.read_text(path) or ""
    missing = [e for e in EXCLUDED if e not in text.splitlines()]
    if missing:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as f:
            f.write(("\n" if text and not text.endswith("\n") else "")
                    + "# made by grunt\n" * (not text.count("# made by grunt"))
                    + "".join(e + "\n" for e in missing))
