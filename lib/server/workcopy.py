"""grund's working copies: bringing clients' commits in, committing, pushing back.

grund and the clients never write the same files (clients: snapshots,
``grcmd.*`` and the files they name; grund: ``job.*`` files), so a merge never
conflicts.  What a grund killed with -9 left half done (a merge, a staged
commit) is finished here before the next merge.
"""
import csv
import hashlib
import io
import logging
import os
import stat
import time

from .. import git as G
from ..errors import GruntError
from ..gruntlib import protocol as P
from ..gruntlib.jobdir import JobDir

log = logging.getLogger("grund")
PUSH_TRIES = 10
# what git commit prints (LC_ALL=C) when nothing is staged
NOTHING_STAGED = (b"nothing to commit", b"nothing added to commit", b"no changes added to commit")


def grund_env(server: str) -> "dict[str, str]":
    """Author and committer of grund's commits."""
    e = P.grund_email(server)
    return {"GIT_AUTHOR_NAME": P.GRUND_NAME, "GIT_AUTHOR_EMAIL": e,
            "GIT_COMMITTER_NAME": P.GRUND_NAME, "GIT_COMMITTER_EMAIL": e}


class WorkCopy:
    """One of grund's working copies (jobs or results) of a project."""

    def __init__(self, path: str, server: str):
        self.path = path
        self.server = server
        self.env = grund_env(server)

    def git(self, *args: str, **kw) -> bytes:
        return G.git(*args, cwd=self.path, **kw)

    def fetch(self) -> None:
        self.git("fetch", "-q", "--no-recurse-submodules", "origin")

    def tip(self) -> str:
        """The fetched tip of the bare repo's branch (its ref file, else git)."""
        return (G.loose_ref(self.path, f"refs/remotes/origin/{P.BRANCH}")
                or G.out("rev-parse", f"origin/{P.BRANCH}", cwd=self.path))

    def head(self) -> str:
        return G.loose_ref(self.path, "HEAD") or G.out("rev-parse", "HEAD", cwd=self.path)

    def commit(self, msg: str) -> bool:
        """Commit what is staged; False when nothing is (git commit says so, exit 1)."""
        try:
            G.commit(msg, cwd=self.path, env=self.env)
        except G.GitError as e:
            if e.returncode == 1 and any(w in e.stdout for w in NOTHING_STAGED):
                return False
            raise
        return True

    def stage_job(self, job: JobDir) -> "list[str]":
        """Stage the job's files (after writing job.list); return the job's staged paths."""
        write_list(job)
        self.add_job(job)
        return G.zsplit(self.git("diff", "--cached", "--name-only", "-z", "--",
                                 os.path.relpath(job.path, self.path)))

    def add_job(self, job: JobDir) -> None:
        self.git("add", "-A", "-f", "--", os.path.relpath(job.path, self.path) + "/job.*")

    def merge(self) -> None:
        """Bring origin's new commits in; running jobs' files are left alone."""
        try:
            self.git("merge", "-q", "--no-edit", f"origin/{P.BRANCH}", env=self.env)
        except G.GitError:
            if not self.mend_merge():
                raise
            self.git("merge", "-q", "--no-edit", f"origin/{P.BRANCH}", env=self.env)

    def mend_merge(self) -> bool:
        """Finish what a merge killed with grund left behind; True if it did anything.

        A merge killed after writing the index leaves MERGE_HEAD: grund and the
        clients never write the same files, so the index holds the whole merge
        and it is committed; so is what a grund killed between ``git add`` and
        ``git commit`` left staged.  One killed while writing files leaves them as
        untracked or modified files that the next merge refuses to overwrite;
        those whose content is exactly origin's (what the merge wrote) go back
        to the index's state, and the merge is done again.
        """
        wc = self.path
        if os.path.exists(os.path.join(wc, ".git", "MERGE_HEAD")):
            if self.git("diff", "--name-only", "--diff-filter=U").strip():
                return False
            log.warning("%s: concluding a merge an earlier grund left unfinished", wc)
            self.git("-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "--no-edit",
                     env=self.env)
            return True
        if not G.ok("diff", "--cached", "--quiet", cwd=wc):
            # killed between `git add` and `git commit`: its own job files
            log.warning("%s: committing what an earlier grund left staged", wc)
            G.commit("job files staged before a restart", cwd=wc, env=self.env)
            return True
        leftovers, tracked = self._merge_leftovers()
        if not leftovers:
            return False
        log.warning("%s: undoing %d file(s) an interrupted merge left behind", wc, len(leftovers))
        back = [p for p in leftovers if p in tracked]
        for p in leftovers:
            if p not in tracked:
                os.unlink(os.path.join(wc, p))
        if back:
            self.git("checkout-index", "-f", "-z", "--stdin",
                     input=b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in back))
        return True

    def _merge_leftovers(self) -> "tuple[list[str], set[str]]":
        """(files on disk whose content is exactly origin's, the tracked paths among
        the files the merge would write)."""
        wc, theirs = self.path, f"origin/{P.BRANCH}"
        changed = G.zsplit(self.git("diff", "-z", "--name-only", "--no-renames", f"HEAD...{theirs}"))
        present = [p for p in changed if os.path.lexists(os.path.join(wc, p))]
        if not present:
            return [], set()
        blobs = {}
        for entry in G.zsplit(self.git("ls-tree", "-r", "-z", theirs, "--", *present)):
            meta, path = entry.split("\t", 1)
            mode, _, sha = meta.split()
            blobs[path] = (mode, sha)
        tracked = set(G.zsplit(self.git("ls-files", "-z", "--cached", "--", *present)))
        return [p for p in present if p in blobs
                and worktree_blob(wc, p, blobs[p][0]) == blobs[p][1]], tracked

    def push(self) -> bool:
        """Push what grund committed; True when it raced a client's push, whose
        commits are then merged (and not yet looked at by grund)."""
        head = G.loose_ref(self.path, "HEAD")
        theirs = G.loose_ref(self.path, f"refs/remotes/origin/{P.BRANCH}")
        if head is not None and head == theirs:
            return False   # (read from the ref files: no git process)
        # two different commits read from the files: HEAD holds the fetched tip
        # (merged), so it is ahead; a push of a copy left behind is rejected and
        # merged below.  A packed ref is asked of git.
        if (head is None or theirs is None) and G.out(
                "rev-list", "--count", f"origin/{P.BRANCH}..HEAD", cwd=self.path) == "0":
            return False
        raced = False
        for attempt in range(PUSH_TRIES):
            try:
                self.git("push", "-q", "origin", f"HEAD:refs/heads/{P.BRANCH}")
                return raced
            except G.GitError as e:
                if "rejected" not in e.stderr and "fetch first" not in e.stderr:
                    raise
                # a client pushed meanwhile: take its commits and try again
                raced = True
                G.backoff(attempt)
                self.git("fetch", "-q", "origin")
                self.merge()
        raise GruntError(f"could not push {self.path}: the repository kept moving on")


def worktree_blob(wc: str, rel: str, mode: str) -> "str | None":
    """The git blob id of a working-tree entry (as ``mode`` expects), None if it is not one."""
    path = os.path.join(wc, rel)
    try:
        if mode == "120000":
            data = os.readlink(path).encode("utf-8", "surrogateescape")
        elif os.path.islink(path) or not os.path.isfile(path):
            return None
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError:
        return None
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def walk_files(top: str):
    """(relative path, stat) of every file below top, symlinks not followed."""
    cut = len(os.path.join(top, ""))
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if x != ".git")
        for f in sorted(files):
            p = os.path.join(d, f)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield p[cut:], st


def ended_among(wc: str, staged: "list[str]") -> "list[JobDir]":
    """The jobs with an end (job.end, or a task's) among the staged paths of ``wc``."""
    return [JobDir(os.path.join(wc, rel)) for rel in
            sorted({os.path.dirname(p) for p in staged if P.is_end_file(os.path.basename(p))})]


def write_list(job: JobDir) -> None:
    """job.list: CSV File,Size,Modified of the job's files that are not job files."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["File", "Size", "Modified"])
    for rel, st in walk_files(job.path):
        if P.is_job_file(rel):
            continue
        w.writerow([rel, st.st_size, time.strftime(P.TS_FORMAT, time.gmtime(st.st_mtime))])
    P.write_atomic(job.file(P.LIST), buf.getvalue())
