"""What grund mends by itself rather than retrying for ever.

* A ``*.lock`` file that no live git holds: git removes its own locks, so one
  older than LOCK_STALE seconds with no git process working in that repository
  was left by a git that was killed (git's own convention for stale locks).
  In grund's working copies it is removed when a git call trips over it; in
  the bare jobs repo (``refs/heads/main.lock`` refuses every push) every round
  looks for one.
* A working copy whose objects are damaged (an emptied or garbled loose
  object): rebuilt from the bare repo, which holds everything pushed.  The
  new ``.git`` takes the place of the old one under the same working tree,
  so the jobs' files and outputs stay; what grund had not pushed yet is
  committed again from the files on disk (the job files of the jobs copy,
  every result of the results copy).  The damaged ``.git`` is kept beside it
  as ``.git.damaged``.
* No room to write (a full disk, a quota, a read-only file system): not the
  command's fault, so it does not count against it; it waits for room.
"""
import errno
import glob
import logging
import os
import re
import shutil
import time

from .. import git as G
from ..gruntlib import protocol as P

log = logging.getLogger("grund")
LOCK_STALE = 60.0   # seconds
# the locks git takes in a bare repo for a push
BARE_LOCKS = ("refs/heads/" + P.BRANCH + ".lock", "packed-refs.lock", "HEAD.lock")
_LOCKED = re.compile(r"Unable to create '([^']+\.lock)': File exists")
_DAMAGED = re.compile(r"object file \S+ is empty|loose object \S+ .*is corrupt|is corrupt"
                      r"|inflate: data stream error|unable to unpack \S+ header"
                      r"|fatal: bad object|bad tree object|unable to read (?:tree|sha1 file)"
                      r"|invalid object|packed object \S+ .*is corrupt|index file corrupt")
ROOM_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}
ROOM_WORDS = ("No space left on device", "Disk quota exceeded", "Read-only file system",
              "Permission denied")


def no_room(e: BaseException) -> str:
    """Why grund could not write (out of space, quota, read-only, no permission), or ""."""
    if isinstance(e, OSError) and e.errno in ROOM_ERRNOS:
        return os.strerror(e.errno).lower()
    if isinstance(e, G.GitError):
        return next((w.lower() for w in ROOM_WORDS if w in e.stderr), "")
    return ""


def git_works_in(repo: str) -> bool:
    """Does a git process of any user we can see have its working directory in ``repo``?"""
    real = os.path.realpath(repo)
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return False   # no /proc: the age bound alone decides
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if not f.read().startswith("git"):
                    continue
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd == real or cwd.startswith(real + os.sep):
            return True
    return False


def remove_if_stale(lock: str, repo: str) -> bool:
    """Remove ``lock`` when it is older than LOCK_STALE and no git works in ``repo``."""
    try:
        age = time.time() - os.stat(lock).st_mtime
    except FileNotFoundError:
        return False
    if age < LOCK_STALE or git_works_in(repo):
        return False
    try:
        os.unlink(lock)
    except FileNotFoundError:
        return False
    log.warning("removed %s: a lock %d s old that no git holds", lock, age)
    return True


def mend_bare(bare: str) -> None:
    """Stale locks of a push that was killed (each refuses every push after it)."""
    for name in BARE_LOCKS:
        path = os.path.join(bare, name)
        if os.path.exists(path):
            remove_if_stale(path, bare)


def stale_lock_in(stderr: str) -> "str | None":
    """The lock file a git call tripped over, if that was the failure."""
    m = _LOCKED.search(stderr)
    return m.group(1) if m else None


def damaged(stderr: str) -> bool:
    """git says that objects of the repository are damaged."""
    return _DAMAGED.search(stderr) is not None


def _check_out_new_jobs(wc: str) -> None:
    """Jobs the bare repo has and the working tree lacks (pushed after the damage):
    checked out, as the merge that did not happen would have.  A job that is on
    disk in another folder was moved by grund and stays where it is."""
    missing = G.zsplit(G.git("ls-files", "-z", "--deleted", cwd=wc))
    new = []
    for path in missing:
        where = P.JobPath.parse("/".join(path.split("/")[:3]))
        if where is None or P.locate(wc, where.jobid, where.proj) is None:
            new.append(path)
    if new:
        G.git("checkout-index", "-f", "-z", "--stdin", cwd=wc,
              input=b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in new))


def rebuild(wc: str, bare: str, jobs: bool, env: "dict[str, str]") -> None:
    """A new .git for working copy ``wc`` from the bare repo; the files on disk stay."""
    tmp = wc + ".rebuild"
    shutil.rmtree(tmp, ignore_errors=True)
    G.git("clone", "-q", "--no-checkout", bare, tmp)
    old, new = os.path.join(wc, ".git"), os.path.join(tmp, ".git")
    for name in P.STATE_FILES:     # grund's own state: cursor, markers, running calls
        src = os.path.join(old, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(new, name))
        elif os.path.isfile(src):
            shutil.copy2(src, os.path.join(new, name))
    shutil.rmtree(old + ".damaged", ignore_errors=True)
    os.replace(old, old + ".damaged")
    os.replace(new, old)
    shutil.rmtree(tmp, ignore_errors=True)
    G.git("reset", "-q", cwd=wc)   # the index from HEAD; the working tree is left as it is
    _check_out_new_jobs(wc)
    if not jobs:     # every result copied since then
        G.git("add", "-A", "-f", cwd=wc)
    elif glob.glob(os.path.join(glob.escape(wc), "*", "*", "*", "job.*")):
        G.git("add", "-f", "--", ":(glob)*/*/*/job.*", cwd=wc)   # job files written since
    if not G.ok("diff", "--cached", "--quiet", cwd=wc):
        G.commit("kept across a rebuild of grund's working copy", cwd=wc, env=env)
    log.warning("%s: rebuilt from %s (its objects were damaged; the old one is %s.damaged)",
                wc, bare, old)
