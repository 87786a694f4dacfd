"""Copying a job's results into the project's results repository.

Which files: those named in the ``update`` command, else what ``grunter.py
results`` prints, else every file the job made.  Paths are checked to stay
inside the job directory (no ``..``, no absolute path, no symlink leading
out); refused ones are named in job.log.  The copies are stored as one pack
(git fast-import), so the ``git add`` that follows writes no loose object
per file.
"""
import os
import shutil
from typing import Callable

from .. import git as G
from ..gruntlib import protocol as P
from ..gruntlib.jobdir import JobDir
from .grunter import Result
from .workcopy import WorkCopy, walk_files


def copy_results(job: JobDir, results: WorkCopy, files: "list[str]",
                 grunter: "Callable[[JobDir, str], Result]") -> None:
    """Copy ``files`` of the job (default: ask ``grunter``) and commit them."""
    if not files:
        rc, out = grunter(job, "results")
        files = [ln.strip() for ln in out.splitlines() if ln.strip()] if rc == 0 else []
        if rc != 0:
            files = new_files(job)
    dest_root = job.where.under(results.path)
    real_job = os.path.realpath(job.path)
    real_dirs = {}   # type: dict[str, str]
    copied, refused = [], []
    for name in files:
        for rel in expand(job.path, name):
            src = os.path.join(job.path, rel)
            norm = os.path.normpath(rel)
            if (os.path.isabs(rel) or norm.startswith("..") or
                    not realpath(src, real_dirs).startswith(real_job + os.sep)):
                refused.append(rel)
                continue
            if not os.path.isfile(src) or P.is_job_file(norm):
                continue
            make_room(dest_root, norm)
            shutil.copyfile(src, os.path.join(dest_root, norm))
            copied.append(norm)
    if refused:
        job.log("results: refused paths outside the job: " + ", ".join(refused))
    job.log(f"results: copied {len(copied)} file(s)")
    if copied:
        # one pack of the copies' blobs: git add finds them there instead of
        # writing a loose object per file
        G.write_blobs(results.path, [os.path.join(dest_root, n) for n in copied])
        results.git("add", "-A", "-f", "--", job.where.rel)
        results.commit(f"results {job.jobid}")


def expand(jobdir: str, name: str) -> "list[str]":
    """A result name: a file, or a directory whose files are all taken."""
    path = os.path.join(jobdir, name)
    if os.path.isdir(path) and not os.path.islink(path):
        return [os.path.join(name, rel) for rel, _ in walk_files(path)]
    return [name]


def new_files(job: JobDir) -> "list[str]":
    """Files the job made or changed: untracked or modified, job files aside."""
    top = P.JobPath.top_of(job.path)
    rel = job.where.rel
    raw = G.git("ls-files", "-z", "--others", "--modified", "--", rel, cwd=top)
    out = []
    for p in G.zsplit(raw):
        r = os.path.relpath(p, rel)
        if not P.is_job_file(r) and r not in out:
            out.append(r)
    return out


def make_room(root: str, rel: str) -> None:
    """Directories for ``root/rel``, where an earlier result may have had another type.

    A result that was a file and is now a directory (or the other way round)
    replaces the old one instead of failing the copy every time.
    """
    path = root
    for name in rel.split("/")[:-1]:
        path = os.path.join(path, name)
        if os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)
    os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
    last = os.path.join(root, rel)
    if os.path.isdir(last) and not os.path.islink(last):
        shutil.rmtree(last)


def realpath(path: str, dirs: "dict[str, str]") -> str:
    """os.path.realpath(path), each directory resolved once (``dirs`` keeps them)."""
    d, base = os.path.split(path)
    if base in ("", ".", "..") or os.path.islink(path):
        return os.path.realpath(path)
    if d not in dirs:
        dirs[d] = os.path.realpath(d)
    return os.path.join(dirs[d], base)
