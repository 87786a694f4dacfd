"""The server's repositories: creating a project (``grunt newproj`` on the server),
grund's working copies, the post-receive hook that wakes grund."""
import os
import shlex
import shutil
import tempfile
from typing import Container

from .. import config, git as G
from ..gruntlib import protocol as P
from .workcopy import grund_env


def projects(server: str, known: "Container[str]" = ()) -> "list[str]":
    """The projects of ``server`` that have their bare repos here (those in ``known``
    are taken to have them still: one directory read per round)."""
    base = config.projects_dir(server)
    try:
        return sorted(e.name for e in os.scandir(base)
                      if P.PROJ_RE.match(e.name) and (e.name in known or os.path.isdir(
                          os.path.join(e.path, "jobs.git"))))
    except FileNotFoundError:
        return []


def read_tip(bare: str, branch: str = P.BRANCH) -> "str | None":
    """The commit a bare repo's branch points at, read from its files (no git process)."""
    text = P.read_text(os.path.join(bare, "refs", "heads", branch))
    if text and text.strip():
        return text.strip()
    packed = P.read_text(os.path.join(bare, "packed-refs")) or ""
    for line in packed.splitlines():
        if line.endswith(f" refs/heads/{branch}"):
            return line.split(" ", 1)[0]
    return None


def hook_text(server: str, proj: str) -> str:
    fifo = shlex.quote(config.grund_file(server, P.FIFO))
    mark = shlex.quote(os.path.join(config.grund_file(server, P.MARKS), proj))
    return ("#!/bin/sh\n"
            "# installed by grunt newproj: wake grund up for this project (its mark,\n"
            "# then a poke).  Opening a FIFO read-write never blocks, so a push never\n"
            "# waits, whether grund runs or not.\n"
            f"F={fifo}\n"
            f"touch {mark} 2>/dev/null\n"
            '[ -p "$F" ] && printf d 1<>"$F"\n'
            "exit 0\n")


def install_hook(server: str, proj: str) -> None:
    """Write the post-receive hook, unless it is there already as it should be (a
    read): a hook of an older grunt (which pokes without a mark) is replaced."""
    path = os.path.join(config.bare_path(server, proj, "jobs"), "hooks", "post-receive")
    text = hook_text(server, proj)
    if P.read_text(path) != text:
        P.write_atomic(path, text, mode=0o700)


def take_marks(server: str) -> "list[str]":
    """The projects marked since the last call, each mark removed before it is
    served (a change made after that leaves a new one): one folder read."""
    folder = config.grund_file(server, P.MARKS)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            continue
        if P.PROJ_RE.match(name) and os.path.isdir(config.bare_path(server, name, "jobs")):
            out.append(name)
    return out


def create_project(server: str, proj: str) -> bool:
    """Create the bare repos and grund's working copies; False if they existed.

    Safe to run again: it completes whatever a previous run left undone.
    """
    config.check_name("project", proj)
    old = os.umask(0o077)  # the files inside the repos are private too
    try:
        existed = True
        for kind in config.KINDS:
            bare = config.bare_path(server, proj, kind)
            if not os.path.isdir(os.path.join(bare, "objects")):
                existed = False
                config.private(os.path.dirname(bare))
                _init_bare(bare, server, proj, kind)
                config.private(bare)
            G.git("config", "receive.denyNonFastForwards", "true", cwd=bare)
            G.git("config", "receive.denyDeletes", "true", cwd=bare)
        install_hook(server, proj)
        config.private(config.grund_file(server, P.MARKS))   # where the hook leaves its mark
        for kind in config.KINDS:
            ensure_wc(server, proj, kind)
        return existed
    finally:
        os.umask(old)


def _init_bare(bare: str, server: str, proj: str, kind: str) -> None:
    """A bare repo whose first commit holds the folder layout."""
    tmp = bare + ".new"
    G.init(tmp, P.BRANCH, bare=True)
    with tempfile.TemporaryDirectory(prefix="grunt-init.") as seed:
        G.init(seed, P.BRANCH)
        for folder in P.FOLDERS:
            os.makedirs(os.path.join(seed, folder))
            P.write_atomic(os.path.join(seed, folder, ".keep"), "")
        G.git("add", "-A", cwd=seed)
        G.commit(f"new {kind} repository for {proj} on {server}", cwd=seed, env=grund_env(server))
        G.git("push", "-q", tmp, f"HEAD:refs/heads/{P.BRANCH}", cwd=seed)
    os.replace(tmp, bare)


def ensure_wc(server: str, proj: str, kind: str) -> str:
    """grund's working copy of a project's repo, cloned when missing."""
    wc = config.wc_path(server, proj, kind)
    if not os.path.isdir(os.path.join(wc, ".git")):
        config.private(os.path.dirname(wc))
        tmp = wc + ".new"
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
        G.git("clone", "-q", config.bare_path(server, proj, kind), tmp)
        config.private(tmp)
        os.replace(tmp, wc)
    return wc
