"""Publishing: a change of the client's jobs copy, committed and pushed exactly once.

Every change a client makes to a project (a new job, ``grcmd.<cmd>`` files, a
new message) is built by a function on a fresh copy of the server's state,
committed, and pushed.  A push rejected because another client pushed first
is retried on the new state (ids and paths computed again); nothing is ever
force-pushed.  On any other failure the copy goes back to the server's state.
"""
from __future__ import annotations

import getpass
import os
import socket
from typing import Callable

from .. import config, git as G
from ..errors import GruntError
from ..gruntlib import protocol as P
from .project import Project
from .remote import PushRejected

PUSH_TRIES = 30  # pushes lost to other clients before giving up (with a random backoff)
Build = Callable[[], "tuple[list[str], str]"]


def identity_env(wc: str) -> "dict[str, str]":
    """Author/committer for client commits: the user's git identity, else login@host."""
    found = {}
    raw = G.git("config", "-z", "--get-regexp", r"^user\.(name|email)$", cwd=wc, check=False)
    for item in raw.decode("utf-8", "replace").split("\0"):
        if "\n" in item:
            k, v = item.split("\n", 1)
            found[k] = v
    name = found.get("user.name") or getpass.getuser()
    email = found.get("user.email") or f"{getpass.getuser()}@{socket.gethostname()}"
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}


def publish(pr: Project, build: Build) -> str:
    """Change the jobs copy with ``build``, commit and push; retry on races.

    ``build`` runs on a fresh copy of the server's state and returns
    (paths it touched, commit message); the message is returned.
    """
    if pr.read_only:
        raise GruntError(f"the copy of {getattr(pr, 'owner', '?')}'s project {pr.proj} is read-only")
    wc = pr.jobs
    ident = identity_env(wc)
    building = P.state_file(wc, P.BUILDING)
    for attempt in range(PUSH_TRIES):
        paths = []   # type: list[str]
        open(building, "w").close()
        try:
            paths, msg = build()
            _commit_paths(wc, paths, msg, ident)
            try:
                pr.remote.git("push", "-q", "origin", f"HEAD:refs/heads/{P.BRANCH}",
                              cwd=wc, proj=pr.proj)
            except PushRejected:
                raise
            except GruntError:
                if not _landed(pr, wc):
                    raise
            os.unlink(building)
            return msg
        except PushRejected:
            _restore(wc, paths)
            G.backoff(attempt)
            pr.sync(wc)
        except BaseException:
            _restore(wc, paths)
            raise
    raise GruntError(f"could not push to {pr.server}: it kept moving on "
                     f"({PUSH_TRIES} tries); try again")


def _commit_paths(wc: str, paths: "list[str]", msg: str, ident: "dict[str, str]") -> None:
    """Commit ``paths``.  grund acts on grcmd files that a commit adds or changes,
    so a command repeated within the second of its timestamp (the same content
    again) is taken out by one commit and put back by the next."""
    G.git("add", "-A", "-f", "--", *paths, cwd=wc)
    staged = set(G.zsplit(G.git("diff", "--cached", "--name-only", "-z", cwd=wc)))
    again = [p for p in paths if os.path.basename(p).startswith(P.CMD_PREFIX) and p not in staged]
    if again and staged:
        # some commands repeat while others are new: as below, for those alone
        G.git("rm", "-q", "--cached", "--", *again, cwd=wc)
        G.commit(f"{msg} (again)", cwd=wc, env=ident)
        G.git("add", "-f", "--", *again, cwd=wc)
    try:
        G.commit(msg, cwd=wc, env=ident)
    except G.GitError as e:
        if b"nothing to commit" not in e.stdout:
            raise
        G.git("rm", "-r", "-q", "--cached", "--", *paths, cwd=wc)
        G.commit(f"{msg} (again)", cwd=wc, env=ident)
        G.git("add", "-A", "-f", "--", *paths, cwd=wc)
        G.commit(msg, cwd=wc, env=ident)


def _landed(pr: Project, wc: str) -> bool:
    """After a push that failed: did it reach the server all the same?

    The connection can drop after the server took the commit but before it
    said so; then the command was sent and must not be reported as lost.
    """
    head = G.out("rev-parse", "HEAD", cwd=wc)
    try:
        pr.remote.git("fetch", "-q", "origin", cwd=wc, proj=pr.proj)
    except GruntError:
        return False
    return G.ok("merge-base", "--is-ancestor", head, f"origin/{P.BRANCH}", cwd=wc)


def _restore(wc: str, paths: "list[str]") -> None:
    G.git("reset", "-q", "--hard", f"origin/{P.BRANCH}", cwd=wc, check=False)
    if paths:
        G.git("clean", "-q", "-fdx", "--", *paths, cwd=wc, check=False)


def send_commands(pr: Project, cmd: str, jobs: list, content: "str | None" = None) -> None:
    """Commit ``grcmd.<cmd>`` into each job and push, one commit for all."""
    if not jobs:
        return
    ids = [j.id for j in jobs]

    def build():
        paths = []
        for jid in ids:
            job = pr.find(jid)
            if job is None:  # gone meanwhile (nuked by another client)
                continue
            P.write_atomic(os.path.join(job.path, P.CMD_PREFIX + cmd), content or P.now_ts() + "\n")
            paths.append(job.where.file(P.CMD_PREFIX + cmd))
        if not paths:
            raise GruntError("the jobs are gone from the server")
        return paths, f"{cmd} {' '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}"
    publish(pr, build)


def send_control(pr: Project, cmd: str, content: str) -> None:
    """A command that belongs to no job, in the control directory ``<prefix>000000``."""
    where = P.JobPath("active", P.control_id(config.prefix()), pr.proj)

    def build():
        os.makedirs(where.under(pr.jobs), exist_ok=True)
        P.write_atomic(os.path.join(where.under(pr.jobs), P.CMD_PREFIX + cmd), content)
        return [where.rel], f"{cmd} {content.strip()}"
    publish(pr, build)
