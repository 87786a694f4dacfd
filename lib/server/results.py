"""Copying a job's results into the project's results repository.

Which files: those named in the ``update`` command, else what ``grunter.py
results`` prints, else every file the job made.  Paths are checked to stay
inside the job directory (no ``..``, no absolute path, no symlink leading
out); refused ones are named in job.log.  Many files (PACK_AT_LEAST) are each
read once: copied, and stored as a blob in one pack (git fast-import), so the
``git add`` that follows writes no loose object per file; for fewer, a loose
object each costs less than starting fast-import.
"""
import os
import shutil
import stat
from typing import Callable

from .. import git as G
from ..gruntlib import protocol as P
from ..gruntlib.jobdir import JobDir
from .grunter import Result
from .workcopy import WorkCopy, walk_files, write_list

PACK_AT_LEAST = 200   # files: fewer are left to git add (a loose object each is cheaper)


def finish_ended(job: JobDir, results: WorkCopy,
                 grunter: "Callable[[JobDir, str], Result]") -> bool:
    """Copy the results of a job that ended, and write its job.list; False when it
    has not ended (an array whose other tasks still run)."""
    if not job.at_rest():
        return False
    if any(job.has(name) for name in P.SCHEDULER_IDS):
        grunter(job, "status")   # the scheduler's last word on it first
    copy_results(job, results, [], grunter)
    write_list(job)
    return True


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
    made = set()     # type: set[str]  # directories of dest_root known to be there
    copied, refused = [], []
    for name in files:
        for rel in expand(job.path, name):
            src = os.path.join(job.path, rel)
            norm = os.path.normpath(rel)
            if (os.path.isabs(rel) or norm.startswith("..") or
                    not realpath(src, real_dirs).startswith(real_job + os.sep)):
                refused.append(rel)
            elif not P.is_job_file(norm) and is_file(src):
                copied.append(norm)
    # many files: each is read once, into the results copy and, as a blob, into
    # one pack, so the git add that follows writes no loose object per file
    pack = G.BlobPack(results.path) if len(copied) >= PACK_AT_LEAST else None
    try:
        for norm in copied:
            make_room(dest_root, norm, made)
            src, dst = os.path.join(job.path, norm), os.path.join(dest_root, norm)
            if pack is None:
                shutil.copyfile(src, dst)
                continue
            with open(src, "rb") as f:
                pack.copy(f, dst)
    except BaseException:
        if pack is not None:
            pack.kill()
        raise
    if pack is not None:
        pack.close()
    if refused:
        job.log("results: refused paths outside the job: " + ", ".join(refused))
    job.log(f"results: copied {len(copied)} file(s)")
    if copied:
        results.git("add", "-A", "-f", "--", job.where.rel)
        results.commit(f"results {job.jobid}")


def is_file(path: str) -> bool:
    """A regular file (a symlink to one too); never a FIFO, which would block the copy."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


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


def make_room(root: str, rel: str, made: "set[str]") -> None:
    """Directories for ``root/rel``, where an earlier result may have had another type.

    A result that was a file and is now a directory (or the other way round)
    replaces the old one instead of failing the copy every time.  ``made``:
    the directories of ``root`` already made or checked (relative).
    """
    parent = os.path.dirname(rel)
    if parent not in made:
        path = root
        for name in parent.split("/") if parent else []:
            path = os.path.join(path, name)
            if os.path.lexists(path) and not os.path.isdir(path):
                os.unlink(path)
        os.makedirs(os.path.join(root, parent), exist_ok=True)
        while parent not in made:
            made.add(parent)
            parent = os.path.dirname(parent)
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
