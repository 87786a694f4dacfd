"""Reaching a server: a local path or ssh, one connection per command, plain errors.

A remote spec is either an absolute path standing for the server's home
(local transport: same machine or a shared filesystem) or ``[user@]host``,
where host may be an alias from the user's ssh config.

The ssh command is the user's: ``GRUNT_SSH``, else ``GIT_SSH_COMMAND``, else
git's ``core.sshCommand``, else ``GIT_SSH``, else ``ssh`` (git's own order
after ``GRUNT_SSH``).  It is used for git (as ``GIT_SSH_COMMAND``) and for
every direct ssh call alike, so both always reach the server the same way.

All git and ssh traffic of one ``Remote`` shares one ssh connection: a
ControlMaster started on first use, with its socket in a private directory,
stopped by ``close()``.  It is skipped when the user's own ssh config already
multiplexes that host, or when ``GRUNT_SSH_MUX=0``.

Every failure becomes one sentence that names the server, e.g.
``cannot reach blanca (ssh: Connection refused)``.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time

from .. import git as gitmod
from ..errors import GruntError, UsageError
from .diagnose import explain, is_transient, missing_command, not_installed, push_rejected, telling_line

ENV_SSH = "GRUNT_SSH"
ENV_MUX = "GRUNT_SSH_MUX"
ENV_TIMEOUT = "GRUNT_SSH_TIMEOUT"
ENV_ALIVE = "GRUNT_SSH_ALIVE"
DEFAULT_CONNECT_TIMEOUT = 10
# Idle seconds before our master exits by itself: the safety net for a grunt
# that dies without close().  A master that expired is started again.
CONTROL_PERSIST = 30
# A connection that stops answering is given up after about ALIVE_EVERY x
# (ALIVE_MISSES + 1) seconds (ssh's keep-alives; GRUNT_SSH_ALIVE sets the
# first), a login after LOGIN_TIMEOUT x the connect timeout.
ALIVE_EVERY, ALIVE_MISSES = 5, 3
LOGIN_TIMEOUT = 2
# Sleeps between tries of a connection that failed transiently (4 tries).
RETRY_DELAYS = (0.2, 0.5, 1.0)

# [user@]host; never starting with "-" (it would reach ssh as an option)
_HOST_RE = re.compile(r"^(?!-)(?:[^@\s/:]+@)?[^@\s/:-][^@\s/:]*$")


class RemoteError(GruntError):
    """A failure talking to a server; ``stderr`` keeps what git/ssh said."""

    def __init__(self, message: str, stderr: str = "", returncode: int | None = None):
        super().__init__(message)
        self.stderr = stderr
        self.returncode = returncode


class PushRejected(RemoteError):
    """The server has commits the push lacks: fetch, rebase, push again (never force)."""


# ------------------------------------------------------------ ssh command

def _ssh_setting() -> tuple[str, str]:
    """(the user's ssh command as a shell string, where it came from)."""
    for name in (ENV_SSH, "GIT_SSH_COMMAND"):
        if os.environ.get(name, "").strip():
            return os.environ[name], name
    cfg = gitmod.git("config", "--get", "core.sshCommand", check=False).decode().strip()
    if cfg:
        return cfg, "core.sshCommand"
    if os.environ.get("GIT_SSH", "").strip():
        return shlex.quote(os.environ["GIT_SSH"]), "GIT_SSH"
    return "ssh", "default"


def _split_command(cmd: str, source: str) -> list[str]:
    """Words of an ssh command string, for calls made without a shell.

    git runs GIT_SSH_COMMAND through ``sh -c``; we split it the way sh would
    for plain command lines (quotes, ``~``, ``$VAR``) and refuse shell syntax
    we would get wrong.
    """
    try:
        lex = shlex.shlex(cmd, posix=True, punctuation_chars=";&|<>()")
        lex.whitespace_split = True
        words = list(lex)
    except ValueError as e:
        raise UsageError(f"cannot parse {source} ({e}): {cmd}") from None
    if not words or any(w and set(w) <= set(";&|<>()") for w in words) or "`" in cmd:
        raise UsageError(f"{source} must be a plain ssh command line, not shell code: {cmd}")
    return [os.path.expandvars(os.path.expanduser(w)) for w in words]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


def _socket_dir() -> str:
    # A unix socket path is limited to ~104 bytes (108 on Linux): keep it
    # short with a fixed /tmp parent instead of a possibly deep $TMPDIR.
    base = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
    return tempfile.mkdtemp(prefix="grunt-ssh.", dir=base)   # mode 0700


# ------------------------------------------------------------ Remote

class Remote:
    """One server as seen from this machine, for the length of one command.

    Use as a context manager (or call ``close()``) so an ssh ControlMaster
    started here is stopped at the end.
    """

    def __init__(self, spec: str, server: str, share: bool = True):
        """``share=False``: a command that makes a single connection starts no master."""
        self.spec = spec
        self.server = server
        self.is_local = spec.startswith("/")
        if not self.is_local and not _HOST_RE.match(spec):
            raise UsageError(f"invalid address {spec!r} for server {server}: "
                             f"use [user@]host or an absolute path")
        self.timeout = _env_int(ENV_TIMEOUT, DEFAULT_CONNECT_TIMEOUT)
        self.alive = _env_int(ENV_ALIVE, ALIVE_EVERY)
        self._cmd: str | None = None          # the user's ssh command string
        self._words: list[str] = []           # ... split into argv words
        self._mux: bool | None = None if share else False   # None: not decided yet
        self._dir: str | None = None          # private socket directory
        self.control_path: str | None = None  # our master's socket, when multiplexing

    # -- context manager
    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- addressing
    def url(self, relpath: str) -> str:
        """git URL of ``relpath``, a path relative to the server home."""
        if self.is_local:
            return os.path.join(self.spec, relpath)
        return f"{self.spec}:{relpath}"

    # -- ssh options
    def _ssh_words(self) -> list[str]:
        if self._cmd is None:
            self._cmd, source = _ssh_setting()
            self._words = _split_command(self._cmd, source)
        return self._words

    def _common_opts(self) -> list[str]:
        # BatchMode: never prompt (a password prompt would hang a script);
        # ConnectTimeout: a host that accepts TCP but never speaks SSH would
        # otherwise hang forever.  Options on the command line win over the
        # user's config; options in GRUNT_SSH come first and win over ours.
        # LogLevel=INFO: ssh says "Timeout, server not responding" at that level
        # (its output is read to tell what went wrong, never shown as it is).
        return ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.timeout}", "-o", "LogLevel=INFO",
                "-o", f"ServerAliveInterval={self.alive}", "-o", f"ServerAliveCountMax={ALIVE_MISSES}"]

    def _client_opts(self) -> list[str]:
        if not self.control_path:
            return []
        # ControlMaster=no: a git-spawned ssh must never become a master
        # itself, or the forked master could keep git's captured stderr pipe
        # open until ControlPersist expires (OpenSSH bug 1988).
        return ["-o", "ControlMaster=no", "-o", f"ControlPath={self.control_path}"]

    def _user_multiplexes(self) -> bool:
        """True when the user's ssh config already shares connections to this host.

        Also True when ``ssh -G`` cannot tell (not OpenSSH, broken config):
        then the connection is left entirely to the user's ssh.
        """
        try:
            p = subprocess.run([*self._ssh_words(), "-G", "--", self.spec],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return True   # cannot tell (not OpenSSH?): leave the connection alone
        if p.returncode != 0:
            return True
        conf: dict[str, str] = {}
        for line in p.stdout.decode("utf-8", "replace").splitlines():
            key, _, value = line.partition(" ")
            conf.setdefault(key.lower(), value.strip())
        return (conf.get("controlmaster", "false") not in ("false", "no")
                or conf.get("controlpath", "none") != "none")

    def _ensure_master(self) -> None:
        """Start our ControlMaster on first use (and again if it expired)."""
        if self.is_local:
            return
        if self._mux is None:
            off = os.environ.get(ENV_MUX, "").strip().lower() in ("0", "no", "false", "off")
            self._mux = not off and not self._user_multiplexes()
        if not self._mux:
            return
        if self.control_path and os.path.exists(self.control_path):
            return
        if self._dir is None:
            self._dir = _socket_dir()
        sock = os.path.join(self._dir, "cm")
        errpath = os.path.join(self._dir, "master.err")
        argv = [*self._ssh_words(), *self._common_opts(),
                "-o", "ControlMaster=yes", "-o", f"ControlPath={sock}",
                "-o", f"ControlPersist={CONTROL_PERSIST}",
                # a mux session's environment is filtered through the MASTER's
                # SendEnv list: without this git silently drops to protocol v0
                "-o", "SendEnv=GIT_PROTOCOL",
                # once in the background the master's stderr is /dev/null: its
                # word on a connection that died goes to a log of its own
                "-E", os.path.join(self._dir, "master.log"),
                "-f", "-N", "--", self.spec]
        for delay in (*RETRY_DELAYS, None):
            # -f forks the master after authentication; its stdio goes to
            # /dev/null and a file, never a pipe we wait on, so this returns
            # as soon as the connection is up.
            with open(errpath, "wb") as err:
                try:
                    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=err, timeout=LOGIN_TIMEOUT * self.timeout)
                    rc = p.returncode
                except subprocess.TimeoutExpired:
                    # connected, then silence: ConnectTimeout covers the key
                    # exchange, keep-alives only a session that is up
                    raise RemoteError(f"{self.server} stopped answering while logging in "
                                      f"(nothing within {LOGIN_TIMEOUT * self.timeout} s)") from None
                except FileNotFoundError:
                    raise RemoteError(f"cannot reach {self.server} ({self._words[0]} is not "
                                      f"installed)") from None
            with open(errpath, "rb") as f:
                stderr = f.read().decode("utf-8", "replace") + self._master_said()
            if rc == 0 and os.path.exists(sock):
                self.control_path = sock
                return
            if delay is not None and is_transient(stderr):
                time.sleep(delay)
                continue
            msg = explain(stderr, self.server, None)
            if msg:
                raise RemoteError(msg, stderr, rc)
            # Unknown trouble with multiplexing itself: go on without it; a
            # real connection problem shows again (and is reported) below.
            self._mux = False
            return

    def git_env(self) -> dict[str, str]:
        """Environment additions for a network git call ({} for local).

        Starts the shared connection on first use, so it may raise RemoteError.
        """
        if self.is_local:
            return {}
        self._ensure_master()
        self._ssh_words()
        assert self._cmd is not None
        # The user's string stays as written: git runs it through sh -c.
        return {"GIT_SSH_COMMAND": " ".join(
            [self._cmd, shlex.join(self._common_opts() + self._client_opts())])}

    # -- git
    def git(self, *args: str, cwd: str | None, proj: str | None = None,
            input: bytes | None = None) -> bytes:
        """Run a network git command (fetch, push, clone, ls-remote) against this server.

        Raises PushRejected for a non-fast-forward push, RemoteError otherwise.
        """
        for delay in (*RETRY_DELAYS, None):
            env = self.git_env()
            try:
                return gitmod.git(*args, cwd=cwd, input=input, env=env)
            except gitmod.GitError as e:
                if delay is not None and is_transient(e.stderr):
                    time.sleep(delay)
                    continue
                raise self._git_failure(args, e, proj) from e
        raise AssertionError("unreachable")

    def _git_failure(self, args: tuple[str, ...], e: gitmod.GitError,
                     proj: str | None) -> RemoteError:
        sub = args[0] if args else "git"
        out = e.stdout.decode("utf-8", "replace")   # push --porcelain reports there
        if sub == "push" and push_rejected(e.stderr + out):
            return PushRejected(f"push to {self.server} was rejected: the server has "
                                f"commits this push does not include", e.stderr, e.returncode)
        msg = explain(e.stderr + self._master_said(), self.server, proj)
        if msg is None and e.returncode < 0:   # killed by a signal: SIGPIPE when ssh went away
            msg = (f"the connection to {self.server} broke off (git {sub} was stopped by "
                   f"signal {-e.returncode})")
        if msg is None:
            detail = telling_line(e.stderr) or f"exit {e.returncode}"
            msg = f"git {sub} with {self.server} failed ({detail})"
        return RemoteError(msg, e.stderr, e.returncode)

    # -- commands on the server
    def run(self, argv: list[str], input: bytes | None = None, check: bool = True,
            timeout: float | None = None, stream: bool = False) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` on the server, in the server home; return its result.

        ssh failures and a missing program always raise RemoteError; a
        non-zero exit of the program raises only with ``check``.  ``stream``:
        the program's stdout goes straight to ours (``stdout`` is then b"").
        """
        if not argv:
            raise ValueError("empty argv")
        if self.is_local:
            p = self._run_local(argv, input, timeout, stream)
        else:
            p = self._run_ssh(argv, input, timeout, stream)
        # 127 is also the shell's "command not found": only the program itself
        # missing is a set-up problem; anything else is the program's own result
        if (p.returncode == 127 and not self.is_local
                and missing_command(p.stderr.decode("utf-8", "replace")) == argv[0]):
            raise RemoteError(not_installed(argv[0], self.server),
                              p.stderr.decode("utf-8", "replace"), 127)
        if check and p.returncode != 0:
            stderr = p.stderr.decode("utf-8", "replace")
            detail = telling_line(stderr) or f"exit {p.returncode}"
            raise RemoteError(f"{argv[0]} failed on {self.server} ({detail})",
                              stderr, p.returncode)
        return p

    def _run_local(self, argv: list[str], input: bytes | None, timeout: float | None,
                   stream: bool = False) -> subprocess.CompletedProcess[bytes]:
        if not os.path.isdir(self.spec):
            raise RemoteError(f"cannot reach {self.server} ({self.spec} is not a directory)")
        # Like an ssh login: the server home as cwd and HOME, and none of the
        # client's GIT_* variables (a hook's GIT_DIR would redirect git there).
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env["HOME"] = self.spec
        try:
            p = subprocess.run(argv, cwd=self.spec, env=env, input=input, stderr=subprocess.PIPE,
                               stdout=None if stream else subprocess.PIPE,
                               stdin=None if input is not None else subprocess.DEVNULL,
                               timeout=timeout)
        except FileNotFoundError:
            raise RemoteError(not_installed(argv[0], self.server)) from None
        except subprocess.TimeoutExpired:
            raise self._timed_out(argv, timeout) from None
        return subprocess.CompletedProcess(argv, p.returncode, p.stdout or b"", p.stderr)

    def _run_ssh(self, argv: list[str], input: bytes | None, timeout: float | None,
                 stream: bool = False) -> subprocess.CompletedProcess[bytes]:
        for delay in (*RETRY_DELAYS, None):
            self._ensure_master()
            # ssh hands the remote shell one string: quote every word for it
            ssh = [*self._ssh_words(), *self._common_opts(), *self._client_opts(),
                   "--", self.spec, shlex.join(argv)]
            try:
                p = subprocess.run(ssh, input=input, stderr=subprocess.PIPE, timeout=timeout,
                                   stdout=None if stream else subprocess.PIPE,
                                   stdin=None if input is not None else subprocess.DEVNULL)
            except FileNotFoundError:
                raise RemoteError(f"cannot reach {self.server} ({ssh[0]} is not "
                                  f"installed)") from None
            except subprocess.TimeoutExpired:
                raise self._timed_out(argv, timeout) from None
            stderr = p.stderr.decode("utf-8", "replace")
            # 255 is ssh's own failure (or, rarely, the program's exit code:
            # then the text does not classify and the result goes back as is)
            if p.returncode == 255:
                if delay is not None and is_transient(stderr):
                    time.sleep(delay)
                    continue
                msg = explain(stderr + self._master_said(), self.server, None)
                if msg:
                    raise RemoteError(msg, stderr, 255)
            return subprocess.CompletedProcess(argv, p.returncode, p.stdout or b"", p.stderr)
        raise AssertionError("unreachable")

    def _master_said(self) -> str:
        """What our ControlMaster wrote on stderr: why a shared connection died
        (ssh's "Timeout, server not responding") is said there, not by its clients."""
        if self._dir is None:
            return ""
        try:
            with open(os.path.join(self._dir, "master.log"), "rb") as f:
                return "\n" + f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _timed_out(self, argv: list[str], timeout: float | None) -> RemoteError:
        return RemoteError(f"{argv[0]} on {self.server} did not finish within {timeout:g} s")

    # -- cleanup
    def close(self) -> None:
        """Stop the ControlMaster this Remote started and remove its socket directory."""
        if self._dir is None:
            return
        if self.control_path and os.path.exists(self.control_path):
            try:
                subprocess.run([*self._ssh_words(), "-o", f"ControlPath={self.control_path}",
                                "-O", "exit", "--", self.spec],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        self.control_path = None
