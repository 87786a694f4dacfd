"""Snapshots of a project, and the client's sparse jobs working copy.

A submit never copies the project file by file.  The shipped paths are hashed
straight from the project checkout into the jobs repository's object store by
one ``git update-index`` into a throwaway index (``GIT_WORK_TREE`` = the project), one
``git write-tree`` makes the snapshot's tree, and one ``git read-tree
--prefix`` grafts it into the jobs index at ``active/<jobid>/<proj>/``: a
constant number of git processes, whatever the number of files.  Identical
files are identical blobs, so an unchanged project costs no new file content.

The client's jobs working copy is sparse: only the job's own files
(``job.*``, ``grcmd.*``) are checked out.  The snapshots stay in the
repository (``grunt diff`` reads them as trees) but not on the laptop's disk,
so fetching, resetting and listing cost the same with 10 jobs or 5,000.
grund's working copies on the server are full: jobs run there.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile

from .. import git as G
from ..gruntlib.protocol import write_atomic

# gitignore-style, last match wins: everything, except what lies inside a job
# directory (<folder>/<jobid>/<proj>/...), except the job's own files
SPARSE_PATTERNS = "/*\n!/*/*/*/*\n/*/*/*/job.*\n/*/*/*/grcmd.*\n"


def _is_own_file(rel: str) -> bool:
    """A path of the snapshot that the sparse patterns check out (top-level job.*, grcmd.*)."""
    return "/" not in rel and rel.startswith(("job.", "grcmd."))


def sparse_file(wc: str) -> str:
    return os.path.join(wc, ".git", "info", "sparse-checkout")


def ensure_sparse(wc: str) -> None:
    """Make ``wc`` a sparse working copy (one stat when it is one already).

    A working copy made by an older grunt holds every snapshot: they are
    removed from its disk (they stay in the repository).
    """
    path = sparse_file(wc)
    try:
        with open(path) as f:
            if f.read() == SPARSE_PATTERNS:
                return
    except FileNotFoundError:
        pass
    G.git("config", "core.sparseCheckout", "true", cwd=wc)
    G.git("config", "core.sparseCheckoutCone", "false", cwd=wc)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomic(path, SPARSE_PATTERNS)
    if G.ok("rev-parse", "-q", "--verify", "HEAD", cwd=wc):
        # (git sparse-checkout reapply needs git 2.27; read-tree -mu does it since ever)
        G.git("read-tree", "-mu", "HEAD", cwd=wc)


def project_tree(projdir: str, gitdir: str, ship: list[str]) -> str:
    """The tree of ``ship`` (paths in ``projdir``, working-tree content), written
    into the object store of ``gitdir``; two git processes whatever the count."""
    with tempfile.TemporaryDirectory(prefix="grunt-snap.") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index"),
               "GIT_DIR": gitdir, "GIT_WORK_TREE": projdir}
        data = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in ship)
        if data:
            _pack_new_blobs(projdir, gitdir, ship)
            # (add --pathspec-from-file needs git 2.25; update-index reads paths since ever)
            G.git("update-index", "--add", "-z", "--stdin", cwd=projdir, input=data, env=env)
        return G.out("write-tree", cwd=projdir, env=env)


PACK_AT_LEAST = 32   # new files: fewer are left to update-index (a loose object each)


def _pack_new_blobs(projdir: str, gitdir: str, ship: list[str]) -> None:
    """Store the content of the shipped files that the repository lacks in one
    pack (one git fast-import), so that update-index, which stays the one that
    decides what the snapshot holds, only hashes them instead of writing a loose
    object per file, the bulk of a submit's time.  Not for a project with
    .gitattributes (a filter may turn the file into another blob), and only for
    many new files; a file that changes meanwhile costs an unused blob."""
    if any(os.path.basename(p) == ".gitattributes" for p in ship):
        return
    found: dict[str, str] = {}
    for rel in ship:
        path = os.path.join(projdir, rel)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            with open(path, "rb") as f:
                h = hashlib.sha1(b"blob %d\0" % os.fstat(f.fileno()).st_size)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except OSError:
            continue   # update-index says what is wrong with it
        found.setdefault(h.hexdigest(), path)
    if len(found) < PACK_AT_LEAST:
        return
    known = G.git("cat-file", "--batch-check", cwd=projdir, env={"GIT_DIR": gitdir},
                  input="".join(k + "\n" for k in found).encode()).decode()
    new = [found[ln.split()[0]] for ln in known.splitlines() if ln.endswith(" missing")]
    if len(new) >= PACK_AT_LEAST:
        G.write_blobs(os.path.dirname(gitdir), new)


def stored_tree(wc: str, treeish: str) -> tuple[str, list[str]]:
    """A stored job's snapshot without its job files, as (tree, paths): what
    ``graft`` needs to make a new job of it (resubmit).  Four git processes."""
    with tempfile.TemporaryDirectory(prefix="grunt-snap.") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        G.git("read-tree", treeish, cwd=wc, env=env)
        paths = G.zsplit(G.git("ls-files", "-z", cwd=wc, env=env))
        own = [p for p in paths if _is_own_file(p)]
        if own:
            G.git("update-index", "-z", "--force-remove", "--stdin", cwd=wc, env=env,
                  input=b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in own))
        return G.out("write-tree", cwd=wc, env=env), [p for p in paths if not _is_own_file(p)]


def graft(wc: str, tree: str, rel: str, ship: list[str], projdir: str) -> None:
    """Put ``tree`` into the index of the sparse ``wc`` at directory ``rel``.

    Its files are marked skip-worktree (in the repository, not on disk), but
    for the few that the sparse patterns check out, which are copied.
    """
    G.git("read-tree", f"--prefix={rel}/", tree, cwd=wc)
    hidden = [p for p in ship if not _is_own_file(p)]
    if hidden:
        G.git("update-index", "-z", "--skip-worktree", "--stdin", cwd=wc,
              input=b"".join(f"{rel}/{p}".encode("utf-8", "surrogateescape") + b"\0"
                             for p in hidden))
    for p in ship:
        if _is_own_file(p):
            copy_entry(os.path.join(projdir, p), os.path.join(wc, rel, p))


def copy_entry(src: str, dst: str) -> None:
    """Copy one file or symlink (symlinks stay symlinks; the x bit is kept)."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
    else:
        shutil.copyfile(src, dst)
        shutil.copymode(src, dst)
