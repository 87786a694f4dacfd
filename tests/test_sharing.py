"""grunt share and --user: a colleague reads the owner's results, over ssh, and cannot write.

Two real unix users: the ssh fixture's server user is the owner; the colleague
is a second user (``<owner>col``) in a group ``<owner>shr`` with the owner,
created here as root and left in place, like the harness's server user.  The
colleague logs in to a second test sshd that allows both users.
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import re
import stat
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from fixture_sshd import Sshd, start_sshd
from test_ssh import SERVER, Client, Server, new_project, server  # noqa: F401 (fixture)


class Colleague:
    def __init__(self, sshd: Sshd, user: str, group: str, config: str):
        self.sshd, self.user, self.group, self.config = sshd, user, group, config

    def ssh(self, script: str) -> subprocess.CompletedProcess[str]:
        """A shell command on the server as the colleague, through sshd."""
        return subprocess.run(["ssh", "-F", self.config, f"{self.user}@{self.sshd.alias}", script],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture(scope="module")
def colleague(sshd: Sshd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Colleague]:
    if sshd.mode != "root":
        pytest.skip("two unix users need root")
    owner = sshd.server_user
    user, group = f"{owner}col", f"{owner}shr"
    try:
        grp.getgrnam(group)
    except KeyError:
        _sh("groupadd", group)
    try:
        pwd.getpwnam(user)
    except KeyError:
        _sh("useradd", "-m", "-s", "/bin/sh", user)
    _sh("usermod", "-p", "*", user)       # not locked: sshd lets it in
    _sh("usermod", "-aG", group, user)
    _sh("usermod", "-aG", group, owner)   # runuser and ssh logins pick it up
    d = tmp_path_factory.mktemp("colleague")
    key = d / "key"
    _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"grunt-share-test:{d}", "-f", str(key))
    home = Path(pwd.getpwnam(user).pw_dir)
    ak = home / ".ssh" / "authorized_keys"
    ak.parent.mkdir(mode=0o700, exist_ok=True)
    with open(ak, "a") as f:
        f.write((d / "key.pub").read_text())
    for p in (ak.parent, ak):
        os.chown(p, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    ak.chmod(0o600)
    # a second sshd of the same machine that lets the colleague in too
    s2 = start_sshd(d / "sshd", GIT_V2="1", EXTRA_CONFIG=f"AllowUsers {user}")
    cfg = s2.write_config(d / "cfg", User=user, IdentityFile=str(key))
    try:
        yield Colleague(s2, user, group, cfg)
    finally:
        s2.stop()
        ak.write_text("".join(ln for ln in ak.read_text().splitlines(keepends=True)
                              if f"grunt-share-test:{d}" not in ln))


def tree_state(srv: Server, proj: str) -> str:
    """Every file of the owner's project repos with mode, size and mtime, and the branch tips."""
    base = srv.path("bb", SERVER, proj)
    p = srv.sshd.as_server("find", str(base), "-printf", "%y %p %m %s %T@ %g\n")
    tips = "".join(srv.git(base / f"{k}.git", "rev-parse", "main") for k in ("jobs", "results"))
    # grund's heartbeat (a ref and a blob, no commit) is rewritten by every grund
    # run: leave it out, and the object folders it lands in
    beats = set()
    for k in ("jobs", "results"):
        blobs = srv.sshd.as_server("git", "-C", str(base / f"{k}.git"), "cat-file",
                                   "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")
        for line in blobs.stdout.decode().splitlines():
            name, kind = line.split()
            if kind == "blob" and b'"pid"' in srv.sshd.as_server(
                    "git", "-C", str(base / f"{k}.git"), "cat-file", "blob", name).stdout:
                beats.add(name[:2] + "/" + name[2:])
    kept = []
    for line in p.stdout.decode().splitlines():
        kind, rest = line.split(" ", 1)
        path, mode, size, mtime, group = rest.rsplit(" ", 4)
        if "/refs/grunt" in path or path[-41:] in beats:
            continue
        if kind == "d" and re.search(r"/objects/[0-9a-f]{2}$", path):   # the files say it all
            continue
        if kind == "d" and path.endswith("/objects"):   # its mtime moves
            mtime = ""
        if re.search(r"/objects/[0-9a-f]{2}/[0-9a-f]{38}$", path):
            mtime = ""   # git freshens an object it writes again; the name is the content
        kept.append(" ".join((path, mode, size, mtime, group)))
    return "\n".join(kept) + tips


def test_colleague_reads_and_cannot_write(server: Server, sshd: Sshd, colleague: Colleague,  # noqa: F811
                                          tmp_path: Path) -> None:
    owner = sshd.server_user
    co, = new_project(server, Client(tmp_path / "owner", sshd), stem="shr")
    j1 = co.ok("submit", "one", "-m", "first").strip()
    j2 = co.ok("submit", "two", "-m", "second").strip()
    server.grund()
    co.ok("update")
    server.grund()

    col = Client(tmp_path / "col", sshd, prefix="col")
    col.env["GRUNT_SSH"] = f"ssh -F {colleague.config}"
    cc = col.checkout(co.proj)
    spec = f"{colleague.user}@{colleague.sshd.alias}"
    ro = col.home / "grunt" / "ro" / SERVER / owner / co.proj

    # not shared yet: the colleague cannot even read, and nothing is left behind
    p = cc.grunt("newproj", co.proj, spec, "--user", owner)
    assert p.returncode == 1 and p.stderr == (
        f"grunt: error: cannot read project {co.proj} of {owner} on {SERVER}: it is not there or "
        f"not shared with you (the owner runs grunt share {co.proj} <group> on {SERVER})\n")
    assert not ro.exists()

    # share: a home the group cannot pass is refused, with nothing changed
    home = Path(sshd.server_home)
    mode = stat.S_IMODE(home.stat().st_mode)
    before = tree_state(server, co.proj)
    home.chmod(0o700)
    try:
        p = sshd.as_server(os.path.join(server.bindir, "grunt"), "share", co.proj, colleague.group,
                           check=False)
    finally:
        home.chmod(mode)
    assert (p.returncode, p.stdout) == (1, b"")
    assert p.stderr.decode() == (f"grunt: error: group {colleague.group} cannot enter your home "
                                 f"{home}: allow passing through (not listing) first with: "
                                 f"chmod o+x {home}\n")
    assert tree_state(server, co.proj) == before
    p = sshd.as_server(os.path.join(server.bindir, "grunt"), "share", co.proj, "nosuchgroup9",
                       check=False)
    assert (p.returncode, p.stderr) == (1, b"grunt: error: no such unix group: nosuchgroup9\n")

    lead = (server.path(), server.path("bb"), server.path("bb", SERVER))
    others = [d.stat().st_mode & 0o007 for d in lead]
    assert server.grunt("share", co.proj, colleague.group) == (
        f"project {co.proj} on {SERVER} is now readable (not writable) by group "
        f"{colleague.group}; its members run: grunt jobs --user {owner}\n")
    gid = grp.getgrnam(colleague.group).gr_gid
    for bare in (server.path("bb", SERVER, co.proj, f"{k}.git") for k in ("jobs", "results")):
        for d, dirs, files in os.walk(bare):
            for x in [d, *(os.path.join(d, f) for f in files)]:
                st = os.lstat(x)
                assert st.st_gid == gid and st.st_mode & stat.S_IRGRP and not st.st_mode & 0o022, x
    for d, o in zip(lead, others):   # the group passes through, never lists; others as before
        assert (d.stat().st_gid, d.stat().st_mode & 0o077) == (gid, 0o010 | o), d
    assert server.path("srv").stat().st_mode & 0o077 == 0          # where jobs run: private

    # the colleague: a read-only copy, jobs, out, show, log, pull with links
    assert cc.ok("newproj", co.proj, spec, "--user", owner, logins=None) == \
        f"project {co.proj} of {owner} on {SERVER} set up read-only ({spec})\n"
    listed = json.loads(cc.ok("jobs", "--user", owner, "--json", logins=None))
    assert [(j["id"], j["status"], j["args"]) for j in listed] == [(j1, "Done", ["one"]),
                                                                   (j2, "Done", ["two"])]
    assert cc.ok("out", j1, "--user", owner, logins=None) == "args: one\n"
    assert cc.ok("out", "2", "--user", owner, logins=None) == "args: two\n"   # the owner's prefix
    assert "message       first" in cc.ok("show", j1, "--user", owner, logins=None)
    assert f"submit {j1}: first" in cc.ok("log", j1, "--user", owner, logins=None)
    assert cc.ok("pull", "--user", owner, logins=None) == \
        f"pulled {co.proj} of {owner} from {SERVER}: 2 job(s), 2 link(s) updated\n"
    assert (cc.dir / "gresults" / owner / j1 / "result.txt").read_text() == "hello one\n"
    # objects the owner writes after sharing are readable as well, whatever
    # the owner's umask (clusters often set 077)
    j3 = co.ok("submit", "three", "-m", "after sharing").strip()
    private_grund = ["sh", "-c", 'umask 077 && exec "$0" --once -q', os.path.join(server.bindir, "grund")]
    sshd.as_server(*private_grund)
    co.ok("update", j3)
    sshd.as_server(*private_grund)
    assert cc.ok("pull", "--user", owner, logins=None).startswith(
        f"pulled {co.proj} of {owner} from {SERVER}: 3 job(s)")
    assert (cc.dir / "gresults" / owner / j3 / "result.txt").read_text() == "hello three\n"
    # the copy is read-only, and git itself never pushes from it
    assert not (ro / "jobs" / "active" / j1 / co.proj / "job.args").stat().st_mode & 0o222
    p = subprocess.run(["git", "push", "origin", "HEAD:main"], cwd=ro / "jobs", env=col.env,
                       capture_output=True, text=True)
    assert p.returncode != 0
    # no trust was added to the colleague's git config on the server
    assert colleague.ssh("test ! -e ~/.gitconfig && git config --global --get-all "
                         "safe.directory; echo $?").stdout == "1\n"

    # writing, the hard way: a grcmd pushed as the colleague, dubious ownership
    # waved through, is refused by the file system; so are direct writes
    before = tree_state(server, co.proj)
    jobs = ro / "jobs"
    subprocess.run(["chmod", "-R", "u+w", str(jobs / "active")], check=True)
    (jobs / "active" / j1 / co.proj / "grcmd.nuke").write_text("2024-01-01 00:00:00 UTC\n")
    for argv in (["add", "-A"], ["commit", "-q", "-m", f"nuke {j1}"]):
        subprocess.run(["git", *argv], cwd=jobs, env=col.env, check=True, capture_output=True)
    bare = f"~{owner}/grunt/bb/{SERVER}/{co.proj}/jobs.git"
    p = subprocess.run(["git", "push", "--receive-pack", "git -c safe.directory=* receive-pack",
                        f"{spec}:{bare}", "HEAD:refs/heads/main"], cwd=jobs,
                       env={**col.env, "GIT_SSH_COMMAND": f"ssh -F {colleague.config}"},
                       capture_output=True, text=True)
    assert p.returncode != 0
    # git's words for a repository it may not write to
    assert "unable to create temporary object directory" in p.stderr, p.stderr
    repo = f"~{owner}/grunt/bb/{SERVER}/{co.proj}"
    for attempt in (f"touch {repo}/jobs.git/refs/heads/evil", f"mkdir {repo}/jobs.git/objects/evil",
                    f"echo x >> {repo}/jobs.git/config", f"touch {repo}/x", f"mkdir ~{owner}/grunt/x",
                    f"rm -rf {repo}/results.git/objects"):
        p = colleague.ssh(attempt)
        assert p.returncode != 0 and "Permission denied" in p.stderr, (attempt, p.stderr)
    server.grund()
    assert tree_state(server, co.proj) == before
    assert list(co.jobs()) == [j1, j2, j3]      # the owner's jobs are all still there

    # write commands do not take --user: they only ever act on the colleague's own project
    p = cc.grunt("delete", j1, "--user", owner)
    assert p.returncode == 2 and "unrecognized arguments: --user" in p.stderr
    assert tree_state(server, co.proj) == before
