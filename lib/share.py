"""Reading a colleague's results: ``grunt share`` on the server, ``--user`` on the client.

The owner runs ``grunt share <proj> <group>`` on the server.  That is the one
place where grunt opens anything up: the project's two bare repos become
group-readable (never group-writable), ``core.sharedRepository=0640`` keeps the
objects and refs git writes later group-readable too, directories get the
set-group-id bit so new files inherit the group, and the directories leading
to the repos let the group pass (x, not r: the group cannot list the other
projects).  grund's working copies, where jobs run, stay private.

A colleague in that group runs e.g. ``grunt jobs --user <owner>``: grunt keeps
a separate working copy ``~/grunt/ro/<server>/<owner>/<proj>/{jobs,results}``
that only ever fetches.  Its files are made read-only, it has no push URL, and
the colleague's unix account has no write permission on the owner's repos.

git refuses to read a repository another user owns ("detected dubious
ownership", git >= 2.35.2).  The narrow exception: the fetch runs
``git -c safe.directory=<that repo> upload-pack`` on the server (the working
copy's ``remote.origin.uploadpack``), which trusts exactly that one repository,
for that read only, without touching anybody's git config.
"""
from __future__ import annotations

import fcntl
import glob
import grp
import os
import pwd
import re
import shlex
import stat

from . import client as C, config, git as G, protocol as P, server as S
from .errors import GruntError, UsageError
from .remote import Remote, RemoteError

USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]*[$]?$")


# ---------------------------------------------------------------- the owner's side
def share_project(server: str, proj: str, group: str) -> list[str]:
    """Let ``group`` read ``proj``'s bare repos; return the paths made readable."""
    config.check_name("project", proj)
    bares = [S.bare_path(server, proj, kind) for kind in ("jobs", "results")]
    if not all(os.path.isdir(os.path.join(b, "objects")) for b in bares):
        raise GruntError(f"project {proj} does not exist on {server}: create it with grunt newproj {proj}")
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise GruntError(f"no such unix group: {group}") from None
    if gid not in (os.getgid(), *os.getgroups()):
        raise GruntError(f"you are not a member of group {group}, so you cannot give it your files")
    home = config.home()
    st = os.stat(home)
    if not (st.st_mode & stat.S_IXOTH or st.st_gid == gid and st.st_mode & stat.S_IXGRP):
        raise GruntError(f"group {group} cannot enter your home {home}: allow passing through "
                         f"(not listing) first with: chmod o+x {home}")
    # the way down: pass through only
    lead = os.path.dirname(bares[0])   # ~/grunt/bb/<server>/<proj>
    for d in (config.grunt_dir(), os.path.dirname(os.path.dirname(lead)), os.path.dirname(lead)):
        _let_pass(d, gid)
    _set(lead, gid, 0o050)
    for bare in bares:
        G.git("config", "core.sharedRepository", "0640", cwd=bare)
        for d, dirs, files in os.walk(bare):
            _set(d, gid, 0o050 | stat.S_ISGID)
            for f in files:
                p = os.path.join(d, f)
                if not os.path.islink(p):
                    _set(p, gid, 0o040)
    return bares


def _set(path: str, gid: int, group_bits: int) -> None:
    """Group ``gid`` and exactly ``group_bits`` for it (never w); owner and others unchanged."""
    st = os.lstat(path)
    if st.st_gid != gid:
        os.chown(path, -1, gid)
    os.chmod(path, (stat.S_IMODE(st.st_mode) & ~0o070 & ~stat.S_ISGID) | group_bits)


def _let_pass(path: str, gid: int) -> None:
    """A directory on the way to the repos: the group may pass, not list.

    A directory still in the user's own group is given to ``gid``; one that
    already lets another shared group pass keeps it and lets others pass
    (x only) instead, so sharing one project never unshares another.
    """
    st = os.stat(path)
    if st.st_gid == gid or st.st_gid == os.getgid() or not st.st_mode & stat.S_IXGRP:
        _set(path, gid, 0o010)
    else:
        os.chmod(path, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)


# ---------------------------------------------------------------- the colleague's side
def check_user(owner: str) -> str:
    if not USER_RE.match(owner):
        raise UsageError(f"invalid user name '{owner}'")
    return owner


def server_address(server: str, proj: str, base: str) -> str:
    """How this machine reaches ``server``: given for this copy, else the project's, else any."""
    own = os.path.join(config.client_proj_dir(server, proj), "remote")
    for path in [os.path.join(base, "remote"), own, *sorted(glob.glob(os.path.join(glob.escape(
            os.path.dirname(config.client_proj_dir(server, proj))), "*", "remote")))]:
        spec = config.read_first_line(path)
        if spec:
            return spec
    raise GruntError(f"no address known for server {server}: give it once with "
                     f"grunt newproj {proj} <remote> --user <owner>")


class SharedProject(C.Project):
    """Another user's project, read through a separate working copy that never pushes."""

    def __init__(self, projdir: str, proj: str, server: str, owner: str, share: bool = True,
                 spec: str | None = None):
        self.projdir, self.proj, self.server, self.owner = projdir, proj, server, check_user(owner)
        self.base = self.base_dir(server, owner, proj)
        self.jobs = os.path.join(self.base, "jobs")
        self.results = os.path.join(self.base, "results")
        os.makedirs(self.base, mode=0o700, exist_ok=True)
        self._lock = open(os.path.join(self.base, "lock"), "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.remote = Remote(spec or server_address(server, proj, self.base), server, share)
        if spec:
            P.write_atomic(os.path.join(self.base, "remote"), spec + "\n")
        self._ident = None
        for wc in (self.jobs, self.results):
            self._init(wc)

    @staticmethod
    def base_dir(server: str, owner: str, proj: str) -> str:
        return os.path.join(config.grunt_dir(), "ro", server, owner, proj)

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
        G.init(wc, C.BRANCH)
        url = repo if self.remote.is_local else f"{self.remote.spec}:{repo}"
        G.git("remote", "add", "origin", url, cwd=wc)
        # trust exactly this repository of another user, for reading it
        G.git("config", "remote.origin.uploadpack",
              f"git -c {shlex.quote('safe.directory=' + repo)} upload-pack", cwd=wc)
        G.git("config", "remote.origin.pushurl", "/read-only/no-push", cwd=wc)

    def id_prefix(self) -> str:
        """The owner's job id prefix, for bare job numbers."""
        try:
            names = [e.name for e in os.scandir(os.path.join(self.jobs, ".grunt-ids"))]
        except FileNotFoundError:
            names = []
        return names[0] if len(names) == 1 else (re.sub(r"[^a-z]", "", self.owner) + "xxx")[:3]

    def sync(self, wc: str | None = None) -> None:
        wc = wc or self.jobs
        try:
            self.remote.git("fetch", "-q", "--no-recurse-submodules", "origin", cwd=wc)
        except RemoteError as e:
            if "does not appear to be a git repository" in e.stderr or "dubious" in e.stderr:
                raise GruntError(f"cannot read project {self.proj} of {self.owner} on {self.server}: "
                                 f"it is not there or not shared with you (the owner runs "
                                 f"grunt share {self.proj} <group> on {self.server})") from None
            raise
        G.git("reset", "-q", "--hard", f"origin/{C.BRANCH}", cwd=wc)
        _read_only(wc)

    def publish(self, build):
        raise GruntError(f"the copy of {self.owner}'s project {self.proj} is read-only")


def _read_only(wc: str) -> None:
    """No write bits on the checked-out files (git replaces files, so fetches still work)."""
    for d, dirs, files in os.walk(wc):
        dirs[:] = [x for x in dirs if not (d == wc and x == ".git")]
        for f in files:
            p = os.path.join(d, f)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o222:
                os.chmod(p, stat.S_IMODE(st.st_mode) & ~0o222)


def open_project(owner: str | None, share: bool = True, spec: str | None = None) -> C.Project:
    """The project of the current checkout: the user's own, or ``owner``'s read-only."""
    if owner is None:
        return C.Project.here(share=share)
    projdir = C.find_projdir(os.getcwd())
    return SharedProject(projdir, config.project_name(projdir), config.project_server(projdir),
                         owner, share, spec)
