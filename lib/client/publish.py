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
import re
import secrets
import socket
from typing import Callable

from .. import config, git as G
from ..errors import GruntError, OutcomeUnknown
from ..gruntlib import protocol as P
from . import unsettled
from .diagnose import connection_broke
from .project import Project
from .remote import PushRejected, RemoteError

PUSH_TRIES = 30  # pushes lost to other clients before giving up (with a random backoff)
NONCE = "Grunt-Commit"  # the trailer that makes every client commit unique
WROTE_ALL = re.compile(r"Writing objects: +100% \(")   # git push --progress: the pack went out
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
            made = _commit_paths(wc, paths, msg, ident)
            try:
                # --progress: git's "Writing objects: 100%" tells whether the
                # whole commit went out, should the connection break
                pr.remote.git("push", "--progress", "origin", f"HEAD:refs/heads/{P.BRANCH}",
                              cwd=wc, proj=pr.proj)
            except PushRejected:
                raise
            except RemoteError as e:
                # the commit the push started from: before the ones just made
                parent = G.out("rev-parse", f"HEAD~{made}", cwd=wc)
                if not _arrived_all_the_same(pr, wc, parent, msg, e):
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


def _commit(wc: str, msg: str, ident: "dict[str, str]") -> None:
    """A client commit no other client can make: two laptops with the same identity
    that submit the same job in the same second would otherwise make the very same
    commit, and the second push would land nothing while reporting success."""
    G.commit(f"{msg}\n\n{NONCE}: {secrets.token_hex(8)}", cwd=wc, env=ident)


def _commit_paths(wc: str, paths: "list[str]", msg: str, ident: "dict[str, str]") -> int:
    """Commit ``paths``; the number of commits made.  grund acts on grcmd files that a
    commit adds or changes, so a command repeated within the second of its timestamp
    (the same content again) is taken out by one commit and put back by the next."""
    G.git("add", "-A", "-f", "--", *paths, cwd=wc)
    made = 0
    commands = [p for p in paths if os.path.basename(p).startswith(P.CMD_PREFIX)]
    if commands:   # (a new job's directory holds its grcmd.submit: always new)
        staged = set(G.zsplit(G.git("diff", "--cached", "--name-only", "-z", cwd=wc)))
        again = [p for p in commands if p not in staged]
        if again and staged:
            # some commands repeat while others are new: as below, for those alone
            G.git("rm", "-q", "--cached", "--", *again, cwd=wc)
            _commit(wc, f"{msg} (again)", ident)
            G.git("add", "-f", "--", *again, cwd=wc)
            made += 1
    try:
        _commit(wc, msg, ident)
    except G.GitError as e:
        if b"nothing to commit" not in e.stdout:
            raise
        G.git("rm", "-r", "-q", "--cached", "--", *paths, cwd=wc)
        _commit(wc, f"{msg} (again)", ident)
        G.git("add", "-A", "-f", "--", *paths, cwd=wc)
        _commit(wc, msg, ident)
        made += 1
    return made + 1


def _arrived_all_the_same(pr: Project, wc: str, parent: str, msg: str, e: RemoteError) -> bool:
    """After a push that failed: did it reach the server all the same?

    The connection can break after the server took the commit but before it
    said so; then the change was sent and must not be reported as lost.  A
    look at the server tells; when that look fails too, or the server's branch
    is still where the push started (the push may yet be landing), the outcome
    is unknown: kept for the next command to settle, and said so.
    """
    if not connection_broke(e.stderr, e.returncode) or not WROTE_ALL.search(e.stderr):
        return False   # refused, never connected, or cut off before all of it went out
    head = G.out("rev-parse", "HEAD", cwd=wc)
    what = msg.split(":", 1)[0]
    try:
        pr.remote.git("fetch", "-q", "origin", cwd=wc, proj=pr.proj)
    except GruntError:
        tip = None
    else:
        tip = G.out("rev-parse", f"origin/{P.BRANCH}", cwd=wc)
        if G.ok("merge-base", "--is-ancestor", head, tip, cwd=wc):
            return True
        if tip != parent:
            return False   # the server moved on without it: it can no longer arrive
    unsettled.remember(wc, head, parent, msg)
    raise OutcomeUnknown(f"{what} was sent to {pr.server}, but the connection broke before "
                         f"the server answered ({e}); the next grunt command that reaches "
                         f"{pr.server} will say whether it arrived")


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
