"""Sharing a project with a unix group, the owner's side: ``grunt share <proj> <group>``.

That is the one place where grunt opens anything up: the project's two bare
repos become group-readable (never group-writable), ``core.sharedRepository=0640``
keeps the objects and refs git writes later group-readable too, directories get
the set-group-id bit so new files inherit the group, and the directories leading
to the repos let the group pass (x, not r: the group cannot list the other
projects).  grund's working copies, where jobs run, stay private.  The reader's
side is client/shared.py.
"""
import grp
import os
import stat

from .. import config, git as G
from ..errors import GruntError


def share_project(server: str, proj: str, group: str) -> "list[str]":
    """Let ``group`` read ``proj``'s bare repos; return the paths made readable."""
    config.check_name("project", proj)
    bares = [config.bare_path(server, proj, kind) for kind in config.KINDS]
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
    for d in config.ways_down(server):
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
