"""pytest fixtures: a real OpenSSH server on 127.0.0.1 for grunt's ssh paths.

tests/conftest.py does ``from fixture_sshd import *``.  Then:

* ``sshd`` (session): one private sshd started by harness/sshd-up.sh, with git
  protocol v2 accepted (``AcceptEnv GIT_PROTOCOL``).  As root the server is
  the unix user ``gsrv`` whose real home is the server home (Recipe A);
  otherwise sshd runs as the caller with an emulated server home (Recipe B).
  The session owns ``<server home>/grunt`` and empties it at start and end.
* ``grunt_ssh`` (function): sets ``GRUNT_SSH='ssh -F <client config>'`` (ssh
  ignores $HOME, so the client config must be named), clears
  ``GIT_SSH_COMMAND`` and ``GRUNT_SSH_MUX``; returns the ``Sshd``.
* ``start_sshd(dir, **knobs)``: another instance with ``SSHUP_<KNOB>``
  settings, for tests that need an odd server; stop it with ``.stop()``.
* ``odd_sshd`` (session): an instance with two more ports whose sessions get a
  PATH without git / without python3 (an ``OddSshd``).
* Broken client sides of a good server: ``Sshd.stranger_key_config``,
  ``Sshd.changed_host_key_config``, ``Sshd.unknown_host_key_config``, and
  ``silent_port()``, a port that accepts TCP but never speaks SSH.

Skips only when /usr/sbin/sshd is missing.
"""
from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

HARNESS = Path(__file__).resolve().parent / "harness"
SSHD_BIN = "/usr/sbin/sshd"
OWNED_DIR = "grunt"   # under the server home; wiped by the session fixture
SERVER_HOME_LOCK = "/tmp/grunt-tests-server-home.lock"
# what an ssh session gets without PAM (sshd built-in)
SSHD_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/games"

__all__ = ["Sshd", "OddSshd", "start_sshd", "free_port", "silent_port", "server_home_turn",
           "sshd", "grunt_ssh", "odd_sshd"]


@dataclass
class Sshd:
    """One running test sshd and the client side that reaches it."""

    state: str
    mode: str            # "root" (Recipe A) or "user" (Recipe B)
    pid: int
    port: int
    log: str             # sshd's log (LogLevel VERBOSE)
    alias: str           # Host alias in `config`
    config: str          # client ssh config: pass it with -F
    client_home: str
    server_user: str
    server_home: str
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def ssh_command(self) -> str:
        """The value for GRUNT_SSH / GIT_SSH_COMMAND."""
        return f"ssh -F {shlex.quote(self.config)}"

    def as_server(self, *argv: str, input: bytes | None = None,
                  check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run argv as the server user in the server home (not through ssh).

        Repos on the server must be made this way: git refuses a repository
        owned by another user ("detected dubious ownership").
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(HOME=self.server_home, LC_ALL="C")
        cmd = list(argv)
        if self.mode == "root":
            cmd = ["runuser", "-u", self.server_user, "--", "env",
                   f"HOME={self.server_home}", *cmd]
        p = subprocess.run(cmd, cwd=self.server_home, env=env, input=input,
                           capture_output=True)
        if check and p.returncode != 0:
            raise AssertionError(f"{cmd} failed ({p.returncode}): {p.stderr.decode()}")
        return p

    def accepted(self) -> int:
        """How many ssh logins sshd has accepted so far (one per connection)."""
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return sum("Accepted publickey for" in line for line in f)

    def log_count(self, needle: str) -> int:
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return sum(needle in line for line in f)

    def write_config(self, path: str | os.PathLike[str], drop: tuple[str, ...] = (),
                     **options: str) -> str:
        """A copy of the client config with `options` set and `drop` keywords removed.

        Keyword names are matched case-insensitively; unknown ones are added.
        Returns the path, ready for ``ssh -F``.
        """
        lines = Path(self.config).read_text().splitlines()
        want = {k.lower(): (k, v) for k, v in options.items()}
        gone = {d.lower() for d in drop}
        out: list[str] = []
        for line in lines:
            word = line.strip().split(" ", 1)[0].lower()
            if word in gone or word in want:
                continue
            out.append(line)
        out += [f"    {k} {v}" for k, v in want.values()]
        Path(path).write_text("\n".join(out) + "\n")
        os.chmod(path, 0o600)
        return str(path)

    def stranger_key_config(self, d: str | os.PathLike[str]) -> str:
        """A config in `d` whose only key is one the server does not know."""
        key = Path(d, "stranger")
        _keygen(key)
        # IdentityFile adds up (ssh -i does not replace): the config's key must go
        return self.write_config(Path(d, "cfg-stranger"), IdentityFile=str(key))

    def changed_host_key_config(self, d: str | os.PathLike[str]) -> tuple[str, str]:
        """(config, its known_hosts) that expect another host key for this server."""
        other = Path(d, "other-host-key")
        _keygen(other)
        kh = Path(d, "known_hosts-changed")
        kh.write_text(f"[127.0.0.1]:{self.port} "
                      + " ".join(Path(f"{other}.pub").read_text().split()[:2]) + "\n")
        return self.write_config(Path(d, "cfg-changed"), UserKnownHostsFile=str(kh),
                                 StrictHostKeyChecking="yes"), str(kh)

    def unknown_host_key_config(self, d: str | os.PathLike[str]) -> str:
        """A config that knows no host key and must not learn one."""
        kh = Path(d, "known_hosts-empty")
        kh.write_text("")
        return self.write_config(Path(d, "cfg-unknown"), UserKnownHostsFile=str(kh),
                                 StrictHostKeyChecking="yes")

    def stop(self) -> None:
        subprocess.run([str(HARNESS / "sshd-down.sh"), self.state],
                       capture_output=True, check=False)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def silent_port() -> Iterator[int]:
    """A port where the kernel accepts TCP and nobody ever speaks SSH."""
    silent = socket.socket()
    try:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        yield silent.getsockname()[1]
    finally:
        silent.close()


def _require_sshd() -> None:
    if not os.access(SSHD_BIN, os.X_OK):
        pytest.skip(f"{SSHD_BIN} is missing (install openssh-server)")


def start_sshd(state: str | os.PathLike[str], **knobs: str) -> Sshd:
    """Start a test sshd in `state` (a new, empty directory).

    knobs become SSHUP_* variables of sshd-up.sh, e.g. ``GIT_V2="1"``,
    ``MAXSTARTUPS="1"``, ``EXTRA_CONFIG="..."``.
    """
    _require_sshd()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSHUP_")}
    # GRUNT_TEST_SRV_USER: another server user, so two test runs on one machine
    # do not empty each other's server home
    if os.environ.get("GRUNT_TEST_SRV_USER"):
        env["SSHUP_SRV_USER"] = os.environ["GRUNT_TEST_SRV_USER"]
    env.update({f"SSHUP_{k}": v for k, v in knobs.items()})
    # the script's stdio must not be inherited by sshd, else this would wait for it
    p = subprocess.run([str(HARNESS / "sshd-up.sh"), str(state)], env=env,
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"sshd-up.sh failed:\n{p.stderr}")
    vals = dict(re.findall(r"^export (\w+)='(.*)'$", p.stdout, re.MULTILINE))
    return Sshd(state=vals["SSHD_STATE"], mode=vals["SSHD_MODE"], pid=int(vals["SSHD_PID"]),
                port=int(vals["SSHD_PORT"]), log=vals["SSHD_LOG"], alias=vals["SSH_ALIAS"],
                config=vals["SSH_CONFIG"], client_home=vals["SSH_CLIENT_HOME"],
                server_user=vals["SSH_SERVER_USER"], server_home=vals["SSH_SERVER_HOME"],
                env=vals)


def _wipe_owned(s: Sshd) -> None:
    target = os.path.join(s.server_home, OWNED_DIR)
    if os.path.lexists(target):
        if s.mode == "root":
            s.as_server("rm", "-rf", "--", target, check=False)
        shutil.rmtree(target, ignore_errors=True)


_turns = []   # the lock file while this process holds the turn (it may nest)


@contextmanager
def server_home_turn() -> Iterator[None]:
    """The server user's home (its ~/grunt) is the machine's one: two test sessions
    (or make chaos) at once take turns with it."""
    if not _turns:
        _turns.append(open(SERVER_HOME_LOCK, "a"))
        fcntl.flock(_turns[0], fcntl.LOCK_EX)
    _turns.append(None)
    try:
        yield
    finally:
        _turns.pop()
        if len(_turns) == 1:
            _turns.pop().close()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    _require_sshd()
    with server_home_turn():
        s = start_sshd(tmp_path_factory.mktemp("sshd"), GIT_V2="1")
        _wipe_owned(s)
        try:
            yield s
        finally:
            _wipe_owned(s)
            s.stop()


@pytest.fixture
def grunt_ssh(sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> Sshd:
    monkeypatch.setenv("GRUNT_SSH", sshd.ssh_command)
    for name in ("GIT_SSH_COMMAND", "GIT_SSH", "GRUNT_SSH_MUX", "GRUNT_SSH_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return sshd


class OddSshd(NamedTuple):
    sshd: Sshd
    nogit: int       # port whose ssh sessions find no git on PATH
    nopython: int    # port whose ssh sessions find no python3 on PATH


@pytest.fixture(scope="session")
def odd_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OddSshd]:
    """An sshd with two more ports whose sessions get a PATH without git / without python3."""
    _require_sshd()
    bins = {}
    for name, tools in (("nogit", ["python3", "sh"]),
                        ("nopython", ["git", "git-upload-pack", "git-receive-pack", "sh"])):
        d = tempfile.mkdtemp(prefix=f"grunt-{name}.", dir="/tmp")   # the server user must read it
        os.chmod(d, 0o755)
        for tool in tools:
            # from sshd's default session PATH, not ours (root's may hold a pyenv shim)
            found = shutil.which(tool, path=SSHD_DEFAULT_PATH)
            assert found, f"{tool} not on {SSHD_DEFAULT_PATH}"
            os.symlink(found, f"{d}/{tool}")
        bins[name] = d
    nogit, nopython = free_port(), free_port()
    extra = (f"ListenAddress 127.0.0.1:{nogit}\nListenAddress 127.0.0.1:{nopython}\n"
             f"Match LocalPort {nogit}\n    SetEnv PATH={bins['nogit']}\n"
             f"Match LocalPort {nopython}\n    SetEnv PATH={bins['nopython']}\n")
    s = start_sshd(tmp_path_factory.mktemp("oddsshd"), EXTRA_CONFIG=extra)
    try:
        yield OddSshd(s, nogit, nopython)
    finally:
        s.stop()
        for d in bins.values():
            shutil.rmtree(d, ignore_errors=True)
