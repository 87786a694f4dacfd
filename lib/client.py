"""The client's side of a project: its working copies, syncing and publishing."""
from __future__ import annotations

import fcntl
import getpass
import os
import random
import socket
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from . import config, git as G, heartbeat as H, protocol as P, snapshot
from .errors import GruntError
from .jobs import Job, is_job_id, load
from .remote import PushRejected, Remote

BRANCH = "main"
PUSH_TRIES = 30  # pushes lost to other clients before giving up (with a random backoff)


def identity_env(wc: str) -> dict[str, str]:
    """Author/committer for client commits: the user's git identity, else login@host."""
    found: dict[str, str] = {}
    raw = G.git("config", "-z", "--get-regexp", r"^user\.(name|email)$", cwd=wc, check=False)
    for item in raw.decode("utf-8", "replace").split("\0"):
        if "\n" in item:
            k, v = item.split("\n", 1)
            found[k] = v
    name = found.get("user.name") or getpass.getuser()
    email = found.get("user.email") or f"{getpass.getuser()}@{socket.gethostname()}"
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}


class Project:
    """A project as the client sees it: name, server, working copies, remote."""

    def __init__(self, projdir: str, proj: str, server: str, share: bool = True):
        self.projdir = projdir
        self.proj = proj
        self.server = server
        self.base = config.client_proj_dir(server, proj)
        self.jobs = os.path.join(self.base, "jobs")
        self.results = os.path.join(self.base, "results")
        spec = config.read_first_line(os.path.join(self.base, "remote"))
        if not spec or not os.path.isdir(os.path.join(self.jobs, ".git")):
            raise GruntError(f"project {proj} is not set up for server {server}: "
                             f"run grunt newproj {proj} <remote>")
        # one grunt command at a time per working copy: a second one (a sweep
        # submitted with `&`) waits instead of failing on git's index.lock
        self._lock = open(os.path.join(self.base, "lock"), "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        # our git children inherit the lock: a grunt killed with -9 keeps it
        # until they end, so any *.lock file seen now is a dead git's
        G.INHERIT_FDS = (self._lock.fileno(),)
        for wc in (self.jobs, self.results):
            G.remove_stale_locks(wc)
        snapshot.ensure_sparse(self.jobs)
        self.remote = Remote(spec, server, share)
        self.share = share   # False: a read-only command (jobs, out, ls, diff)
        self._ident: dict[str, str] | None = None
        self._warned = False

    @classmethod
    def here(cls, cwd: str | None = None, share: bool = True) -> "Project":
        """The project of the checkout holding ``cwd``.

        ``share=False`` for commands that only fetch once (jobs, out, ls,
        diff): one plain connection is cheaper than starting a shared one.
        """
        projdir = find_projdir(cwd or os.getcwd())
        return cls(projdir, config.project_name(projdir), config.project_server(projdir), share)

    @contextmanager
    def unlocked(self) -> Iterator[None]:
        """Let other grunt commands of this project run meanwhile (a long wait)."""
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_EX)

    def close(self) -> None:
        self.remote.close()
        G.INHERIT_FDS = ()
        self._lock.close()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- syncing ---------------------------------------------------------
    def sync(self, wc: str | None = None) -> None:
        """Start from the server's state: fetch, then move to it."""
        wc = wc or self.jobs
        # no submodules here: without the option, a fetch reads the index of
        # every job's files (and sweeps the sparse copy) to look for them
        if wc == self.jobs:
            # grund's heartbeat and its word on trouble (P.PROBLEM_REF) come along
            self.remote.git("fetch", "-q", "--prune", "--no-recurse-submodules", "origin",
                            *H.FETCH_REFSPECS, cwd=wc, proj=self.proj)
            self._warn_problem(wc)
        else:
            self.remote.git("fetch", "-q", "--no-recurse-submodules", "origin", cwd=wc,
                            proj=self.proj)
        building = os.path.join(wc, ".git", P.BUILDING)
        if not self.share and not os.path.exists(building) and _same_commit(wc):
            return   # a read-only command and nothing new: no index rewrite
        G.git("reset", "-q", "--hard", f"origin/{BRANCH}", cwd=wc)
        # what a grunt killed in the middle wrote (a half-built job would burn its id)
        G.git("clean", "-q", "-fdx", cwd=wc)
        if os.path.exists(building):
            os.unlink(building)

    def _warn_problem(self, wc: str) -> None:
        """Show what grund on the server reported (once per command)."""
        ref = os.path.join(wc, ".git", *P.PROBLEM_REF.split("/"))
        if self._warned or not os.path.exists(ref):
            return
        self._warned = True
        text = G.out("cat-file", "blob", P.PROBLEM_REF, cwd=wc)
        print(f"grunt: warning: {self.server}: {text}", file=sys.stderr, flush=True)

    def ident(self) -> dict[str, str]:
        if self._ident is None:
            self._ident = identity_env(self.jobs)
        return self._ident

    def publish(self, build: Callable[[], tuple[list[str], str]]) -> str:
        """Change the working copy with ``build``, commit and push; retry on races.

        ``build`` runs on a fresh copy of the server's state and returns
        (paths it touched, commit message).  When the push is rejected because
        another client pushed first, the copy is reset to the new state and
        ``build`` runs again, so ids and paths are recomputed; nothing is ever
        force-pushed.  On any other failure the working copy goes back to the
        server's state and the files ``build`` wrote are removed.
        """
        wc = self.jobs
        building = os.path.join(wc, ".git", P.BUILDING)
        for attempt in range(PUSH_TRIES):
            paths: list[str] = []
            open(building, "w").close()
            try:
                paths, msg = build()
                G.git("add", "-A", "-f", "--", *paths, cwd=wc)
                staged = set(G.zsplit(G.git("diff", "--cached", "--name-only", "-z", cwd=wc)))
                again = [p for p in paths if os.path.basename(p).startswith(P.CMD_PREFIX)
                         and p not in staged]
                if again and staged:
                    # some of the commands repeat within the second of their
                    # timestamp while others are new: as below, for those alone
                    G.git("rm", "-q", "--cached", "--", *again, cwd=wc)
                    self._commit(wc, f"{msg} (again)")
                    G.git("add", "-f", "--", *again, cwd=wc)
                try:
                    self._commit(wc, msg)
                except G.GitError as e:
                    if b"nothing to commit" not in e.stdout:
                        raise
                    # the same content again (a command repeated within the
                    # second of its timestamp): grund acts on grcmd files that a
                    # commit adds or changes, so one commit takes them out and
                    # the next puts them back
                    G.git("rm", "-r", "-q", "--cached", "--", *paths, cwd=wc)
                    self._commit(wc, f"{msg} (again)")
                    G.git("add", "-A", "-f", "--", *paths, cwd=wc)
                    self._commit(wc, msg)
                try:
                    self.remote.git("push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}",
                                    cwd=wc, proj=self.proj)
                except PushRejected:
                    raise
                except GruntError:
                    if not self._landed(wc):
                        raise
                os.unlink(building)
                return msg
            except PushRejected:
                self._restore(wc, paths)
                backoff(attempt)
                self.sync(wc)
            except BaseException:
                self._restore(wc, paths)
                raise
        raise GruntError(f"could not push to {self.server}: it kept moving on "
                         f"({PUSH_TRIES} tries); try again")

    def _landed(self, wc: str) -> bool:
        """After a push that failed: did it reach the server all the same?

        The connection can drop after the server took the commit but before it
        said so; then the command was sent and must not be reported as lost.
        """
        head = G.out("rev-parse", "HEAD", cwd=wc)
        try:
            self.remote.git("fetch", "-q", "origin", cwd=wc, proj=self.proj)
        except GruntError:
            return False
        return G.ok("merge-base", "--is-ancestor", head, f"origin/{BRANCH}", cwd=wc)

    def _commit(self, wc: str, msg: str) -> None:
        G.commit(msg, cwd=wc, env=self.ident())

    def _restore(self, wc: str, paths: list[str]) -> None:
        G.git("reset", "-q", "--hard", f"origin/{BRANCH}", cwd=wc, check=False)
        if paths:
            G.git("clean", "-q", "-fdx", "--", *paths, cwd=wc, check=False)

    # -- jobs ------------------------------------------------------------
    def id_prefix(self) -> str:
        """The prefix a bare job number stands for (``12`` = ``<prefix>000012``)."""
        return config.prefix()

    def find(self, jobid: str) -> Job | None:
        if not is_job_id(jobid):
            return None
        for folder in P.FOLDERS:
            path = os.path.join(self.jobs, folder, jobid, self.proj)
            if os.path.isdir(path):
                return load(path, jobid, self.proj, folder)
        return None

    def results_dir(self, job: Job) -> str:
        return os.path.join(self.results, job.folder, job.id, self.proj)


def backoff(attempt: int) -> None:
    """Wait a random while, longer after each lost race, so racing pushers spread out."""
    time.sleep(random.uniform(0, min(1.0, 0.02 * 2 ** attempt)))


def _same_commit(wc: str) -> bool:
    """HEAD is already the fetched tip (one rev-parse; the index of 5,000 jobs is not touched)."""
    heads = G.out("rev-parse", "HEAD", f"origin/{BRANCH}", cwd=wc).split()
    return len(heads) == 2 and heads[0] == heads[1]


def find_projdir(cwd: str) -> str:
    """The top of the git checkout holding ``cwd``."""
    try:
        top = G.out("rev-parse", "--show-toplevel", cwd=cwd)
    except G.GitError:
        raise GruntError(f"not a git checkout: {cwd} (grunt works in a project under git)") from None
    return top

