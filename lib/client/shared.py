"""Reading a colleague's shared project: ``--user <owner>`` on the client.

A colleague in the group the owner shared the project with (server/share.py)
runs e.g. ``grunt jobs --user <owner>``: grunt keeps a separate working copy
``~/grunt/ro/<server>/<owner>/<proj>/{jobs,results}`` that only ever fetches.
Its files are made read-only, it has no push URL, and the colleague's unix
account has no write permission on the owner's repos.

git refuses to read a repository another user owns ("detected dubious
ownership", git >= 2.35.2).  The narrow exception: the fetch runs
``git -c safe.directory=<that repo> upload-pack`` on the server (the working
copy's ``remote.origin.uploadpack``), which trusts exactly that one repository,
for that read only, without touching anybody's git config.
"""
from __future__ import annotations

import glob
import os
import pwd
import re
import shlex
import stat

from .. import config, git as G
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P
from .project import Project, find_projdir
from .remote import Remote, RemoteError

USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]*[$]?$")


def check_user(owner: str) -> str:
    if not USER_RE.match(owner):
        raise UsageError(f"invalid user name '{owner}'")
    return owner


def server_address(server: str, proj: str, base: str) -> str:
    """How this machine reaches ``server``: given for this copy, else the project's, else any."""
    own = os.path.join(config.client_proj_dir(server, proj), "remote")
    for path in [os.path.join(base, "remote"), own, *sorted(glob.glob(os.path.join(glob.escape(
            config.client_server_dir(server)), "*", "remote")))]:
        spec = config.read_first_line(path)
        if spec:
            return spec
    raise GruntError(f"no address known for server {server}: give it once with "
                     f"grunt newproj {proj} <remote> --user <owner>")


class SharedProject(Project):
    """Another user's project, read through a separate working copy that never pushes."""

    read_only = True

    def __init__(self, projdir: str, proj: str, server: str, owner: str, share: bool = True,
                 spec: str | None = None):
        self.projdir, self.proj, self.server, self.owner = projdir, proj, server, check_user(owner)
        self.base = self.base_dir(server, owner, proj)
        self.jobs = os.path.join(self.base, "jobs")
        self.results = os.path.join(self.base, "results")
        os.makedirs(self.base, mode=0o700, exist_ok=True)
        self.share, self._warned, self.stale, self.reading = share, True, False, False
        self._take_lock()
        self.remote = Remote(spec or server_address(server, proj, self.base), server, share)
        if spec:
            P.write_atomic(os.path.join(self.base, "remote"), spec + "\n")
        for wc in (self.jobs, self.results):
            self._init(wc)

    @staticmethod
    def base_dir(server: str, owner: str, proj: str) -> str:
        return config.readonly_dir(server, owner, proj)

    def _repo_path(self, wc: str) -> str:
        """The owner's bare repo, as the server's git sees it."""
        rel = config.bare_relpath(self.server, self.proj, os.path.basename(wc))
        if self.remote.is_local:
            try:
                return os.path.join(pwd.getpwnam(self.owner).pw_dir, rel)
            except KeyError:
                raise GruntError(f"no such user on {self.server}: {self.owner}") from None
        return f"~{self.owner}/{rel}"

    def _init(self, wc: str) -> None:
        if os.path.isdir(os.path.join(wc, ".git")):
            return
        repo = self._repo_path(wc)
        G.init(wc, P.BRANCH)
        url = repo if self.remote.is_local else f"{self.remote.spec}:{repo}"
        G.git("remote", "add", "origin", url, cwd=wc)
        # trust exactly this repository of another user, for reading it
        G.git("config", "remote.origin.uploadpack",
              f"git -c {shlex.quote('safe.directory=' + repo)} upload-pack", cwd=wc)
        G.git("config", "remote.origin.pushurl", "/read-only/no-push", cwd=wc)

    def id_prefix(self) -> str:
        """The owner's job id prefix, for bare job numbers."""
        try:
            names = [e.name for e in os.scandir(os.path.join(self.jobs, P.IDS_DIR))]
        except FileNotFoundError:
            names = []
        return names[0] if len(names) == 1 else (re.sub(r"[^a-z]", "", self.owner) + "xxx")[:3]

    def _fetch(self, wc: str) -> None:
        try:
            self.remote.git("fetch", "-q", "--no-recurse-submodules", "origin", cwd=wc)
        except RemoteError as e:
            if "does not appear to be a git repository" in e.stderr or "dubious" in e.stderr:
                raise GruntError(f"cannot read project {self.proj} of {self.owner} on {self.server}: "
                                 f"it is not there or not shared with you (the owner runs "
                                 f"grunt share {self.proj} <group> on {self.server})") from None
            raise

    def _move_to_fetched(self, wc: str) -> None:
        G.git("reset", "-q", "--hard", f"origin/{P.BRANCH}", cwd=wc)
        _read_only(wc)


def _read_only(wc: str) -> None:
    """No write bits on the checked-out files (git replaces files, so fetches still work)."""
    for d, dirs, files in os.walk(wc):
        dirs[:] = [x for x in dirs if not (d == wc and x == ".git")]
        for f in files:
            p = os.path.join(d, f)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o222:
                os.chmod(p, stat.S_IMODE(st.st_mode) & ~0o222)


def open_project(owner: str | None, share: bool = True, spec: str | None = None) -> Project:
    """The project of the current checkout: the user's own, or ``owner``'s read-only."""
    if owner is None:
        return Project.here(share=share)
    projdir = find_projdir(os.getcwd())
    return SharedProject(projdir, config.project_name(projdir), config.project_server(projdir),
                         owner, share, spec)
