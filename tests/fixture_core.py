"""Core fixtures: hermetic client and server homes, grunt and grund in-process.

Every test gets a fresh temporary directory holding a server home (``srv``),
a client home (``cli``) and a place for project checkouts (``work``).  HOME
points into it, git reads only a temporary global config with a fixed
identity, and the real home is never touched.

``core`` is the helper most tests use::

    def test_x(core):
        proj = core.project("p")            # a git checkout with a test grunter
        core.newproj("p")                   # server side, then client side
        jid = core.submit("a", "b", m="why", cwd=proj)
        core.grund()                        # grund --once on the server
        r = core.grunt("jobs", "--json", cwd=proj)
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
GRUNT = os.path.join(ROOT, "grunt")
GRUND = os.path.join(ROOT, "grund")
SERVER = "blanca"
LOGIN = "alice"  # so the job id prefix is "ali"
PREFIX = "ali"
REAL_HOME = os.path.realpath(os.path.expanduser("~"))

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lib import cli  # noqa: E402
from lib.server import grund as daemon  # noqa: E402

# conftest.py star-imports this module: only the fixtures go along
__all__ = ["grunt_hermetic", "core", "core_proj", "async_proj", "fail_proj"]

RUN_SH = 'echo "args: $*"\nmkdir -p out\necho "result of $*" > out/result.txt\n'
# every home of a test gets this as ~/.gitconfig: every git honours that, where
# GIT_CONFIG_GLOBAL needs git 2.32 (and init.defaultBranch 2.28: checkouts are
# put on main by hand)
GITCONFIG = ("[user]\n\tname = Test User\n\temail = test@example.org\n"
             "[init]\n\tdefaultBranch = main\n"
             "[advice]\n\tdetachedHead = false\n")


@dataclass
class Out:
    """What one command did: exit code, stdout, stderr."""

    rc: int
    out: str
    err: str

    def ok(self) -> "Out":
        assert self.rc == 0, f"exit {self.rc}\nstdout: {self.out}\nstderr: {self.err}"
        return self


def git(*args: str, cwd: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def wait_for(pred, timeout: float = 10.0, what: str = "condition", interval: float = 0.02):
    """Poll ``pred`` until it returns something true; that value.  Fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Core:
    def __init__(self, tmp: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture):
        self.tmp = tmp
        self.mp = monkeypatch
        self.capfd = capfd
        self.srv = os.path.join(tmp, "srv")
        self.cli = os.path.join(tmp, "cli")
        self.work = os.path.join(tmp, "work")
        self.server = SERVER
        self.procs: list[subprocess.Popen] = []
        os.makedirs(self.work)
        for home in (self.srv, self.cli):
            self.client_home(home)
        self.home(self.cli)

    # ---------------------------------------------------------------- helpers
    def client_home(self, path: str) -> str:
        """A home with the test's git identity and the server's name (another laptop)."""
        path = path if os.path.isabs(path) else os.path.join(self.tmp, path)
        self.write(os.path.join(path, ".grunt.defserver"), SERVER + "\n")
        self.write(os.path.join(path, ".gitconfig"), GITCONFIG)
        return path

    def home(self, path: str) -> None:
        real = os.path.realpath(path)
        assert real.startswith(os.path.realpath(self.tmp) + os.sep) and real != REAL_HOME, \
            f"refusing to use {path} as HOME"
        self.mp.setenv("HOME", path)

    @staticmethod
    def write(path: str, text: str) -> str:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    @staticmethod
    def read(path: str) -> str:
        with open(path) as f:
            return f.read()

    def _call(self, fn, argv: list[str], cwd: str | None, home: str) -> Out:
        self.home(home)
        self.capfd.readouterr()
        old = os.getcwd()
        os.chdir(cwd or self.work)
        try:
            rc = fn(list(argv))
        finally:
            os.chdir(old)
            self.home(self.cli)
        got = self.capfd.readouterr()
        return Out(rc, got.out, got.err)

    def grunt(self, *argv: str, cwd: str | None = None, home: str | None = None) -> Out:
        """``grunt <argv>`` in-process as the client (in ``cwd``)."""
        return self._call(cli.main, list(argv), cwd, home or self.cli)

    def grund(self, *argv: str, home: str | None = None, errors: bool = False) -> Out:
        """``grund --once -q`` in-process on the server; must succeed.

        Unless ``errors``, grund must log no error either (a project it
        failed to process is logged and retried, not reported in its exit code).
        """
        records: list[logging.LogRecord] = []
        handler = logging.Handler(logging.ERROR)
        handler.emit = records.append
        log = logging.getLogger("grund")
        log.addHandler(handler)
        try:
            r = self._call(daemon.main, list(argv) or ["--once", "-q"], None, home or self.srv)
        finally:
            log.removeHandler(handler)
        r.ok()
        assert errors or not records, "grund logged: " + "; ".join(x.getMessage() for x in records)
        return r

    def env(self, home: str) -> dict[str, str]:
        return dict(os.environ, HOME=home)

    def run(self, exe: str, *argv: str, home: str | None = None, cwd: str | None = None,
            timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        """The real ``grunt``/``grund`` executable as a subprocess."""
        return subprocess.run([exe, *argv], cwd=cwd or self.work, env=self.env(home or self.cli),
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, **kw)

    def start(self, exe: str, *argv: str, home: str | None = None) -> subprocess.Popen:
        """Start the real executable in the background; stopped at teardown."""
        p = subprocess.Popen([exe, *argv], cwd=self.work, env=self.env(home or self.srv),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=10)
        # background jobs of the async test grunter
        for d, _, files in os.walk(self.srv):
            if "job.pid" in files and "job.end" not in files:
                try:
                    os.killpg(int(self.read(os.path.join(d, "job.pid"))), signal.SIGKILL)
                except (OSError, ValueError):
                    pass

    # ---------------------------------------------------------------- projects
    def project(self, name: str = "p", grunter: str = "sync", run_sh: str = RUN_SH,
                files: dict[str, str] | None = None, where: str | None = None) -> str:
        """A git checkout ``work/<name>`` with grunter.py (from tests/data) and run.sh."""
        top = os.path.join(where or self.work, name)
        os.makedirs(top)
        git("init", "-q", cwd=top)
        git("symbolic-ref", "HEAD", "refs/heads/main", cwd=top)
        if grunter:
            self.write(os.path.join(top, "grunter.py"),
                       self.read(os.path.join(DATA, f"grunter_{grunter}.py")))
        self.write(os.path.join(top, "run.sh"), run_sh)
        for rel, text in (files or {}).items():
            self.write(os.path.join(top, rel), text)
        git("add", "-A", cwd=top)
        git("commit", "-q", "-m", "start", cwd=top)
        return top

    def newproj(self, proj: str = "p", home: str | None = None) -> None:
        """Create ``proj`` on the server and set it up on the client."""
        self.grunt("newproj", proj, home=self.srv).ok()
        self.grunt("newproj", proj, self.srv, home=home or self.cli).ok()

    def submit(self, *args: str, m: str = "why", cwd: str, home: str | None = None) -> str:
        r = self.grunt("submit", *args, "-m", m, cwd=cwd, home=home).ok()
        return r.out.strip()

    def jobs(self, *which: str, cwd: str) -> dict[str, dict]:
        """``grunt jobs --json`` as a dict by id."""
        r = self.grunt("jobs", *which, "--json", cwd=cwd).ok()
        return {j["id"]: j for j in json.loads(r.out)}

    # ---------------------------------------------------------------- places
    def swc(self, proj: str = "p", kind: str = "jobs") -> str:
        """grund's working copy."""
        return os.path.join(self.srv, "grunt", "srv", SERVER, proj, kind)

    def cwc(self, proj: str = "p", kind: str = "jobs", home: str | None = None) -> str:
        """The client's working copy."""
        return os.path.join(home or self.cli, "grunt", "wc", SERVER, proj, kind)

    def bare(self, proj: str = "p", kind: str = "jobs") -> str:
        return os.path.join(self.srv, "grunt", "bb", SERVER, proj, f"{kind}.git")

    def sjob(self, jid: str, proj: str = "p", folder: str = "active", kind: str = "jobs") -> str:
        """A job's directory in grund's working copy."""
        return os.path.join(self.swc(proj, kind), folder, jid, proj)

    def cjob(self, jid: str, proj: str = "p", folder: str = "active", kind: str = "jobs") -> str:
        """A job's directory in the client's working copy."""
        return os.path.join(self.cwc(proj, kind), folder, jid, proj)

    def calls(self) -> list[str]:
        """Lines "<cmd> <jobid>" the test grunters appended on the server."""
        path = os.path.join(self.srv, "grunter.calls")
        return self.read(path).splitlines() if os.path.exists(path) else []


@pytest.fixture(autouse=True)
def grunt_hermetic(tmp_path, monkeypatch):
    """No test sees the real home, the user's git config or a hook's git variables."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(GITCONFIG)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(var, LOGIN)
    for var in list(os.environ):
        if var.startswith("GIT_") and var != "GIT_CONFIG_NOSYSTEM":
            monkeypatch.delenv(var)
    for var in ("GRUND_INTERVAL", "NO_COLOR", "GRUNT_SSH", "COLUMNS", "LINES"):
        monkeypatch.delenv(var, raising=False)
    # most tests run grund --once by hand: status need not wait for its answer
    monkeypatch.setenv("GRUNT_STATUS_WAIT", "0")
    # the digest line is tested on its own (test_client_digest.py); elsewhere it
    # would be one more line in every stderr a test compares
    monkeypatch.setenv("GRUNT_DIGEST", "0")
    assert os.path.realpath(os.path.expanduser("~")) != REAL_HOME
    yield


@pytest.fixture
def core(tmp_path, monkeypatch, capfd, grunt_hermetic):
    c = Core(str(tmp_path), monkeypatch, capfd)
    yield c
    c.close()


@pytest.fixture
def core_proj(core):
    """A project ``p`` with the synchronous test grunter, set up on both sides."""
    top = core.project("p")
    core.newproj("p")
    return top


# ---------------------------------------------------------------- helpers of the cli tests


TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def rows(text):
    """A table's lines split on runs of 2+ spaces."""
    return [re.split(r"\s{2,}", ln.strip()) for ln in text.splitlines()]


@pytest.fixture
def async_proj(core):
    top = core.project("p", grunter="async")
    core.newproj("p")
    return top


@pytest.fixture
def fail_proj(core):
    top = core.project("p", grunter="fail")
    core.newproj("p")
    return top


def tracked(wc, rel):
    return git("ls-tree", "-r", "--name-only", "main", "--", rel, cwd=wc).split("\n")[:-1]


def show(core, jid, cwd):
    """``grunt show`` as {label: text}."""
    out = core.grunt("show", jid, cwd=cwd).ok().out
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\S.*?)\s{2,}(.*)$", out, re.M)}


def snapshot(core, jid):
    """{path: (mode, blob)} of a job's committed snapshot, job files left out."""
    rel = f"active/{jid}/p/"
    tree = subprocess.run(["git", "ls-tree", "-r", "-z", "HEAD", "--", rel], cwd=core.cwc("p"),
                          capture_output=True, text=True, check=True).stdout
    out = {}
    for entry in filter(None, tree.split("\0")):
        meta, path = entry.split("\t", 1)
        if not path[len(rel):].startswith(("job.", "grcmd.")):
            out[path[len(rel):]] = tuple(meta.split()[::2])
    return out


def fails(core, cwd, *argv, rc=1):
    """One line on stderr, the given exit code, and the jobs repo on the server unchanged."""
    before = git("rev-parse", "main", cwd=core.bare("p"))
    r = core.grunt(*argv, cwd=cwd)
    assert r.rc == rc and r.out == "" and "Traceback" not in r.err, r
    assert r.err.startswith("grunt: error: ") and r.err.count("\n") == 1, r.err
    assert git("rev-parse", "main", cwd=core.bare("p")) == before
    return r.err[len("grunt: error: "):].strip()


def pyenv_python(version: str) -> "str | None":
    """The interpreter of Python ``version`` (e.g. "3.6") that pyenv holds, or None."""
    import glob
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("pyenv") else os.path.expanduser("~root/.pyenv")
    found = sorted(glob.glob(os.path.join(root or "/nonexistent", "versions", f"{version}.*",
                                          "bin", "python3")))
    return found[-1] if found else None
