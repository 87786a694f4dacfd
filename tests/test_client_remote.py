"""lib.remote against a real OpenSSH server on 127.0.0.1 (see fixture_sshd.py)."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from fixture_sshd import OddSshd, Sshd, free_port, silent_port, start_sshd
from lib.client import remote as remote_mod
from lib.errors import UsageError
from lib.git import git
from lib.client.remote import PushRejected, Remote, RemoteError, explain

SERVER = "blanca"


# ------------------------------------------------------------------ helpers

def unique() -> str:
    return uuid.uuid4().hex[:8]


def bare_repo(sshd: Sshd, proj: str) -> str:
    """Create grunt/bb/<SERVER>/<proj>/jobs.git on the server; return its relative path."""
    rel = f"grunt/bb/{SERVER}/{proj}/jobs.git"
    sshd.as_server("git", "init", "-q", "--bare", rel)
    sshd.as_server("git", "-C", rel, "symbolic-ref", "HEAD", "refs/heads/main")   # (init -b: git 2.28)
    return rel


def init(repo: Path, *opts: str) -> None:
    """A new repository on branch main, as every git does it (init -b needs git 2.28)."""
    git("init", "-q", *opts, str(repo))
    git("symbolic-ref", "HEAD", "refs/heads/main", cwd=str(repo))


def commit(repo: Path, msg: str) -> None:
    (repo / "f").write_text(msg)
    git("add", "f", cwd=str(repo))
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", msg, cwd=str(repo))


def local_repo(tmp_path: Path, name: str = "wc") -> Path:
    repo = tmp_path / name
    init(repo)
    commit(repo, "one")
    return repo


def alive(pid: int) -> bool:
    """Running and not a zombie (PID 1 may reap orphans late)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def master_pid(r: Remote) -> int:
    p = subprocess.run(["ssh", "-o", f"ControlPath={r.control_path}", "-O", "check", "x"],
                       capture_output=True, text=True)
    m = re.search(r"pid=(\d+)", p.stderr)
    assert m, p.stderr
    return int(m.group(1))


def failure(r: Remote, *, proj: str | None = None, rel: str = "grunt/x.git") -> str:
    """The message of a network git call that must fail."""
    with pytest.raises(RemoteError) as ei:
        r.git("ls-remote", r.url(rel), cwd=None, proj=proj)
    msg = str(ei.value)
    assert SERVER in msg and "\n" not in msg
    return msg


# ------------------------------------------------------------ classification

@pytest.mark.parametrize("stderr, expected", [
    ("ssh: connect to host 127.0.0.1 port 57397: Connection refused\n"
     "fatal: Could not read from remote repository.\n",
     "cannot reach blanca (ssh: Connection refused)"),
    ("ssh: Could not resolve hostname gsrv-alias: Name or service not known\n",
     "cannot reach blanca (ssh: Could not resolve hostname gsrv-alias)"),
    ("Connection timed out during banner exchange\nConnection to 127.0.0.1 port 1 timed out\n",
     "cannot reach blanca (ssh: Connection timed out)"),
    ("kex_exchange_identification: read: Connection reset by peer\n",
     "cannot reach blanca (ssh: connection closed during the handshake, the server may be busy)"),
    ("bash: line 1: git-upload-pack: command not found\n", "git is not installed on blanca"),
    ("sh: 1: python3: not found\n", "python3 is not installed on blanca"),
    ("zsh: command not found: git-receive-pack\n", "git is not installed on blanca"),
    ("bash: line 1: /opt/py/bin/python3: No such file or directory\n",
     "/opt/py/bin/python3 is not installed on blanca"),
    ("fatal: 'grunt/bb/blanca/p/jobs.git' does not appear to be a git repository\n",
     "create it there first: grunt newproj p"),
    ("gsrv@127.0.0.1: Permission denied (publickey).\n", "blanca refused your ssh key"),
    ("No ED25519 host key is known for [127.0.0.1]:5 and you have requested strict checking.\n"
     "Host key verification failed.\n", "the host key of blanca is unknown"),
    ("fatal: unrelated trouble\n", None),
    ("fatal: remote ref: not found\n", None),
])
def test_explain(stderr: str, expected: str | None) -> None:
    msg = explain(stderr, SERVER, "p")
    if expected is None:
        assert msg is None
    else:
        assert msg is not None and expected in msg and "\n" not in msg


def test_bad_spec_is_refused() -> None:
    for spec in ("-oProxyCommand=x", "a b", "", "host:path"):
        with pytest.raises(UsageError):
            Remote(spec, SERVER)


# ------------------------------------------------------------ local transport

def test_local_transport(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rel = f"grunt/bb/{SERVER}/p/jobs.git"
    init(home / rel, "--bare")
    repo = local_repo(tmp_path)
    with Remote(str(home), SERVER) as r:
        assert r.is_local and r.git_env() == {}
        assert r.url(rel) == str(home / rel)
        r.git("push", "-q", r.url(rel), "main", cwd=str(repo))
        assert b"refs/heads/main" in r.git("ls-remote", r.url(rel), cwd=None)
        out = r.run(["sh", "-c", 'pwd; echo "$HOME"']).stdout.decode().split()
        assert out == [str(home), str(home)]
        with pytest.raises(RemoteError, match="nosuchprog is not installed on blanca"):
            r.run(["nosuchprog"])
        assert r.run(["sh", "-c", "exit 127"], check=False).returncode == 127
        with pytest.raises(RemoteError, match="create it there first: grunt newproj q"):
            r.git("ls-remote", r.url(f"grunt/bb/{SERVER}/q/jobs.git"), cwd=None, proj="q")
        with pytest.raises(RemoteError, match="did not finish within 0.3 s"):
            r.run(["sleep", "5"], timeout=0.3)
    with pytest.raises(RemoteError, match="cannot reach blanca"):
        Remote(str(tmp_path / "absent"), SERVER).run(["true"])


# ------------------------------------------------------------ connection reuse

def test_one_connection_for_many_calls(grunt_ssh: Sshd, tmp_path: Path) -> None:
    rel = bare_repo(grunt_ssh, "reuse" + unique())
    repo = local_repo(tmp_path)
    before = grunt_ssh.accepted()
    t0 = time.monotonic()
    with Remote(grunt_ssh.alias, SERVER) as r:
        r.git("push", "-q", r.url(rel), "main", cwd=str(repo))
        for _ in range(3):
            r.git("ls-remote", r.url(rel), cwd=None)
        r.git("fetch", "-q", r.url(rel), "main", cwd=str(repo))
        assert r.run(["echo", "hi there"]).stdout == b"hi there\n"
        assert r.control_path and len(r.control_path) < 100
    # a ControlPersist master holding a captured pipe would stall for 30 s
    assert time.monotonic() - t0 < 10
    assert grunt_ssh.accepted() - before == 1


def test_mux_off_by_env(grunt_ssh: Sshd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUNT_SSH_MUX", "0")
    rel = bare_repo(grunt_ssh, "nomux" + unique())
    before = grunt_ssh.accepted()
    with Remote(grunt_ssh.alias, SERVER) as r:
        for _ in range(3):
            r.git("ls-remote", r.url(rel), cwd=None)
        assert r.control_path is None
    assert grunt_ssh.accepted() - before == 3


def test_user_controlmaster_disables_ours(grunt_ssh: Sshd, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    sockdir = Path(tempfile.mkdtemp(dir="/tmp"))   # short: socket paths max ~104 bytes
    cfg = grunt_ssh.write_config(tmp_path / "cfg", ControlMaster="auto",
                                 ControlPath=f"{sockdir}/%C", ControlPersist="5")
    monkeypatch.setenv("GRUNT_SSH", f"ssh -F {cfg}")
    rel = bare_repo(grunt_ssh, "usermux" + unique())
    before = grunt_ssh.accepted()
    try:
        t0 = time.monotonic()
        with Remote(grunt_ssh.alias, SERVER) as r:
            for _ in range(3):
                r.git("ls-remote", r.url(rel), cwd=None)
            r.run(["true"])
            assert r.control_path is None
        assert time.monotonic() - t0 < 5       # the user's master did not hold our pipes
        assert grunt_ssh.accepted() - before == 1   # their multiplexing did the sharing
        assert subprocess.run(["ssh", "-F", cfg, "-O", "check", grunt_ssh.alias],
                              capture_output=True).returncode == 0
    finally:
        subprocess.run(["ssh", "-F", cfg, "-O", "exit", grunt_ssh.alias], capture_output=True)
        shutil.rmtree(sockdir, ignore_errors=True)


def test_close_leaves_nothing_behind(grunt_ssh: Sshd) -> None:
    r = Remote(grunt_ssh.alias, SERVER)
    r.run(["true"])
    sock = r.control_path
    assert sock and os.path.exists(sock)
    assert oct(os.stat(os.path.dirname(sock)).st_mode & 0o777) == "0o700"
    pid = master_pid(r)
    assert alive(pid)
    r.close()
    r.close()   # idempotent
    deadline = time.monotonic() + 3
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
    assert not os.path.exists(os.path.dirname(sock))


def test_master_restarts_after_it_went_away(grunt_ssh: Sshd) -> None:
    with Remote(grunt_ssh.alias, SERVER) as r:
        r.run(["true"])
        first = r.control_path
        assert first
        subprocess.run(["ssh", "-o", f"ControlPath={first}", "-O", "exit", "x"],
                       capture_output=True)
        deadline = time.monotonic() + 3
        while os.path.exists(first) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert r.run(["echo", "again"]).stdout == b"again\n"
        assert r.control_path and os.path.exists(r.control_path)


# ------------------------------------------------------------ git protocol v2

def _ls_remote_protocol(r: Remote, url: str, trace: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GIT_TRACE_PACKET", str(trace))
    try:
        r.git("-c", "protocol.version=2", "ls-remote", url, cwd=None)
    finally:
        monkeypatch.delenv("GIT_TRACE_PACKET")
    return trace.read_text()


def test_protocol_v2_through_our_master(grunt_ssh: Sshd, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # a user config WITHOUT "SendEnv GIT_PROTOCOL": our master must add it
    cfg = grunt_ssh.write_config(tmp_path / "cfg", drop=("SendEnv",))
    monkeypatch.setenv("GRUNT_SSH", f"ssh -F {cfg}")
    rel = bare_repo(grunt_ssh, "v2" + unique())
    with Remote(grunt_ssh.alias, SERVER) as r:
        r.run(["true"])                            # master up first
        assert r.control_path
        trace = _ls_remote_protocol(r, r.url(rel), tmp_path / "t1", monkeypatch)
        assert re.search(r"packet: +[\w-]+< version 2$", trace, re.MULTILINE), trace

    # control: a master started without SendEnv silently downgrades git to v0
    sock = tmp_path / "cm"
    subprocess.run(["ssh", "-F", cfg, "-f", "-N", "-o", "ControlMaster=yes",
                    "-o", f"ControlPath={sock}", "-o", "ControlPersist=10", grunt_ssh.alias],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    try:
        env = dict(os.environ, GIT_SSH_COMMAND=f"ssh -F {cfg} -o ControlPath={sock}",
                   GIT_TRACE_PACKET=str(tmp_path / "t2"))
        subprocess.run(["git", "-c", "protocol.version=2", "ls-remote",
                        f"{grunt_ssh.alias}:{rel}"], env=env, capture_output=True, check=True)
        assert "< version 2" not in (tmp_path / "t2").read_text()
    finally:
        subprocess.run(["ssh", "-F", cfg, "-o", f"ControlPath={sock}", "-O", "exit",
                        grunt_ssh.alias], capture_output=True)


# ------------------------------------------------------------ whose ssh command

def test_git_ssh_command_is_honoured(grunt_ssh: Sshd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRUNT_SSH")
    monkeypatch.setenv("GIT_SSH_COMMAND", grunt_ssh.ssh_command)
    rel = bare_repo(grunt_ssh, "gsc" + unique())
    with Remote(grunt_ssh.alias, SERVER) as r:
        r.git("ls-remote", r.url(rel), cwd=None)
        assert r.run(["echo", "ok"]).stdout == b"ok\n"


def test_grunt_ssh_wins_over_git_ssh_command(grunt_ssh: Sshd,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -F /nonexistent/config")
    rel = bare_repo(grunt_ssh, "prec" + unique())
    with Remote(grunt_ssh.alias, SERVER) as r:
        r.git("ls-remote", r.url(rel), cwd=None)
        assert r.run(["echo", "ok"]).stdout == b"ok\n"
    # and without GRUNT_SSH the broken GIT_SSH_COMMAND is what runs
    monkeypatch.delenv("GRUNT_SSH")
    with Remote(grunt_ssh.alias, SERVER) as r:
        assert "Can't open user config file /nonexistent/config" in failure(r, rel=rel)


def test_core_sshcommand_is_honoured(grunt_ssh: Sshd, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "sshcommand-home"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[core]\n\tsshCommand = {grunt_ssh.ssh_command}\n")
    monkeypatch.delenv("GRUNT_SSH")
    monkeypatch.setenv("HOME", str(home))
    with Remote(grunt_ssh.alias, SERVER) as r:
        assert r.run(["echo", "ok"]).stdout == b"ok\n"
        assert r.control_path


def test_user_at_alias(grunt_ssh: Sshd) -> None:
    with Remote(f"{grunt_ssh.server_user}@{grunt_ssh.alias}", SERVER) as r:
        assert r.url("a/b.git") == f"{grunt_ssh.server_user}@{grunt_ssh.alias}:a/b.git"
        out = r.run(["sh", "-c", 'pwd; echo "$HOME"']).stdout.decode().split()
        assert out == [grunt_ssh.server_home] * 2


def test_run_quotes_every_word(grunt_ssh: Sshd) -> None:
    nasty = ["with space", "it's", '"dq"', "; echo foo", "a\nb", "$HOME", "*", ""]
    with Remote(grunt_ssh.alias, SERVER) as r:
        out = r.run(["python3", "-c", "import sys, json; print(json.dumps(sys.argv[1:]))",
                     *nasty]).stdout
        assert json.loads(out) == nasty
        assert r.run(["cat"], input=b"data\x00in").stdout == b"data\x00in"
        p = r.run(["sh", "-c", "echo oops >&2; exit 3"], check=False)
        assert (p.returncode, p.stderr) == (3, b"oops\n")
        with pytest.raises(RemoteError, match=r"^sh failed on blanca \(oops\)$"):
            r.run(["sh", "-c", "echo oops >&2; exit 3"])
        t0 = time.monotonic()
        with pytest.raises(RemoteError, match="did not finish within 1 s"):
            r.run(["sleep", "3"], timeout=1)
        assert time.monotonic() - t0 < 2.5


# ------------------------------------------------------------ push races

def test_push_rejected_non_fast_forward(grunt_ssh: Sshd, tmp_path: Path) -> None:
    rel = bare_repo(grunt_ssh, "nff" + unique())
    a, b = local_repo(tmp_path, "a"), tmp_path / "b"
    with Remote(grunt_ssh.alias, SERVER) as r:
        r.git("push", "-q", r.url(rel), "main", cwd=str(a))
        r.git("clone", "-q", r.url(rel), str(b), cwd=None)
        commit(a, "two")
        r.git("push", "-q", r.url(rel), "main", cwd=str(a))
        commit(b, "three")
        with pytest.raises(PushRejected, match="push to blanca was rejected"):
            r.git("push", "-q", r.url(rel), "main", cwd=str(b))
        with pytest.raises(PushRejected):
            r.git("push", "--porcelain", r.url(rel), "main", cwd=str(b))


def test_push_rejected_when_ref_moves_during_push(grunt_ssh: Sshd, tmp_path: Path) -> None:
    rel = bare_repo(grunt_ssh, "race" + unique())
    a = local_repo(tmp_path, "a")
    # another push lands between the ref advertisement and our ref update
    hook = Path(grunt_ssh.server_home, rel, "hooks", "pre-receive")
    script = ("#!/bin/sh\n"
              "unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\n"
              "c=$(git -c user.name=o -c user.email=o@o commit-tree -p refs/heads/main "
              "-m other $(git mktree </dev/null))\n"
              "git update-ref refs/heads/main \"$c\"\n")
    with Remote(grunt_ssh.alias, SERVER) as r:
        r.git("push", "-q", r.url(rel), "main", cwd=str(a))
        grunt_ssh.as_server("sh", "-c", f"cat > {shlex.quote(str(hook))} && chmod +x "
                            f"{shlex.quote(str(hook))}", input=script.encode())
        commit(a, "two")
        with pytest.raises(PushRejected) as ei:
            r.git("push", "-q", r.url(rel), "main", cwd=str(a))
        assert "cannot lock ref" in ei.value.stderr


# ------------------------------------------------------------ failures, for real

def test_connection_refused(grunt_ssh: Sshd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUNT_SSH", f"{grunt_ssh.ssh_command} -p {free_port()}")
    with Remote(grunt_ssh.alias, SERVER) as r:
        assert failure(r) == "cannot reach blanca (ssh: Connection refused)"
        with pytest.raises(RemoteError, match=r"^cannot reach blanca \(ssh: Connection refused\)$"):
            r.run(["true"])


def test_unknown_hostname(grunt_ssh: Sshd) -> None:
    with Remote("nosuchhost.invalid", SERVER) as r:
        assert failure(r).startswith(
            "cannot reach blanca (ssh: Could not resolve hostname nosuchhost.invalid")


def test_connect_timeout(grunt_ssh: Sshd, monkeypatch: pytest.MonkeyPatch) -> None:
    with silent_port() as port:
        monkeypatch.setenv("GRUNT_SSH", f"{grunt_ssh.ssh_command} -p {port}")
        monkeypatch.setenv("GRUNT_SSH_TIMEOUT", "1")
        t0 = time.monotonic()
        with Remote(grunt_ssh.alias, SERVER) as r:
            assert failure(r) == "cannot reach blanca (ssh: Connection timed out)"
        assert time.monotonic() - t0 < 4


def test_key_not_authorized(grunt_ssh: Sshd, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUNT_SSH", f"ssh -F {grunt_ssh.stranger_key_config(tmp_path)}")
    with Remote(grunt_ssh.alias, SERVER) as r:
        msg = failure(r)
        assert msg.startswith("blanca refused your ssh key (ssh: Permission denied (publickey))")


def test_host_key_changed(grunt_ssh: Sshd, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, kh = grunt_ssh.changed_host_key_config(tmp_path)
    monkeypatch.setenv("GRUNT_SSH", f"ssh -F {cfg}")
    with Remote(grunt_ssh.alias, SERVER) as r:
        msg = failure(r)
    assert msg.startswith("the host key of blanca has changed")
    assert f'ssh-keygen -f "{kh}" -R "[127.0.0.1]:{grunt_ssh.port}"' in msg


def test_host_key_unknown(grunt_ssh: Sshd, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUNT_SSH", f"ssh -F {grunt_ssh.unknown_host_key_config(tmp_path)}")
    with Remote(grunt_ssh.alias, SERVER) as r:
        assert failure(r).startswith("the host key of blanca is unknown; connect once with ssh")


def test_project_missing(grunt_ssh: Sshd, tmp_path: Path) -> None:
    proj = "nope" + unique()
    repo = local_repo(tmp_path)
    with Remote(grunt_ssh.alias, SERVER) as r:
        msg = failure(r, proj=proj, rel=f"grunt/bb/{SERVER}/{proj}/jobs.git")
        assert msg == (f"project {proj} does not exist on blanca; "
                       f"create it there first: grunt newproj {proj}")
        with pytest.raises(RemoteError, match="create it there first"):
            r.git("fetch", r.url(f"grunt/bb/{SERVER}/{proj}/results.git"), cwd=str(repo),
                  proj=proj)


def test_git_missing_on_server(odd_sshd: OddSshd,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    s, nogit, _ = odd_sshd
    monkeypatch.setenv("GRUNT_SSH", f"{s.ssh_command} -p {nogit}")
    with Remote(s.alias, SERVER) as r:
        assert failure(r).startswith("git is not installed on blanca")
        with pytest.raises(RemoteError, match="^git is not installed on blanca"):
            r.run(["git", "--version"], check=False)
        assert r.run(["python3", "-c", "print(1)"]).stdout == b"1\n"


def test_python3_missing_on_server(odd_sshd: OddSshd,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    s, _, nopython = odd_sshd
    monkeypatch.setenv("GRUNT_SSH", f"{s.ssh_command} -p {nopython}")
    with Remote(s.alias, SERVER) as r:
        with pytest.raises(RemoteError, match="^python3 is not installed on blanca"):
            r.run(["python3", "-c", "print(1)"])
        assert b"git version" in r.run(["git", "--version"]).stdout
        assert r.run(["sh", "-c", "exit 127"], check=False).returncode == 127


# ------------------------------------------------------------ transient failures

@pytest.fixture(scope="module")
def busy_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """An sshd that drops every new connection while one is still unauthenticated."""
    s = start_sshd(tmp_path_factory.mktemp("busysshd"), MAXSTARTUPS="1")
    yield s
    s.stop()


def hold(s: Sshd) -> socket.socket:
    """Open a connection that never authenticates; sshd counts it as a startup."""
    c = socket.create_connection(("127.0.0.1", s.port))
    assert c.recv(64).startswith(b"SSH-2.0-")   # sshd has forked for it
    return c


@pytest.mark.parametrize("mux", ["1", "0"])
def test_retries_when_sshd_is_busy(busy_sshd: Sshd, mux: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUNT_SSH", busy_sshd.ssh_command)
    monkeypatch.setenv("GRUNT_SSH_MUX", mux)
    drops = busy_sshd.log_count("past MaxStartups")
    held = hold(busy_sshd)
    threading.Timer(0.35, held.close).start()      # the busy spell ends
    with Remote(busy_sshd.alias, SERVER) as r:
        assert r.run(["echo", "ok"]).stdout == b"ok\n"
    assert busy_sshd.log_count("past MaxStartups") - drops >= 1


def test_gives_up_when_sshd_stays_busy(busy_sshd: Sshd,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRUNT_SSH", busy_sshd.ssh_command)
    monkeypatch.setattr(remote_mod, "RETRY_DELAYS", (0.05, 0.05, 0.05))
    drops = busy_sshd.log_count("past MaxStartups")
    held = hold(busy_sshd)
    try:
        with Remote(busy_sshd.alias, SERVER) as r:
            msg = failure(r)
    finally:
        held.close()
    assert msg == ("cannot reach blanca (ssh: connection closed during the handshake, "
                   "the server may be busy)")
    assert busy_sshd.log_count("past MaxStartups") - drops == 4
