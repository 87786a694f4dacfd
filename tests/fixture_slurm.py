"""Fixtures for the runner tests: a real single-node Slurm, an ordinary user, job dirs.

conftest.py does ``from fixture_slurm import *``.

* ``slurm`` (session): starts the cluster with tests/harness/slurm-up.sh
  (MinJobAge 10 s, 8 CPU slots) and stops it afterwards if it was
  not running before; skips when not root or Slurm is not installed.
* ``slurm_user`` (session): the ordinary user (created when missing, needs root).
* ``runner_user`` (parametrized "root" / "user"): who runs grunter, and so the job.
* ``runner_job``: builds a job directory laid out like the server's jobs working
  copy and returns a ``JobDir`` whose ``grunter(cmd)`` runs grunter exactly as
  grund does (``runtime.grunter_argv``), as that user.
"""
from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
HARNESS = os.path.join(TESTS, "harness")
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib import runtime  # noqa: E402
from fixture_core import wait_for  # noqa: E402

TEST_USER = "gslurm"
# Short, so that "after Slurm forgot the job" is quick to reach, yet longer than
# KillWait (5 s) plus engine.CACHE_SECONDS plus a poll, as on a real cluster: a
# job killed KillWait after scancel ends CANCELLED then, but its end time is the
# scancel, so Slurm purges it MinJobAge after the scancel.
MINJOBAGE = 10
SERVER = "s1"
SESSION_LOCK = "/tmp/grunt-tests-slurm.lock"

# Only the fixtures: the test modules import the helpers themselves.
__all__ = ["slurm", "slurm_user", "runner_user", "runner_job"]


def _is_root() -> bool:
    return os.geteuid() == 0


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """``wait_for`` with the slower defaults that Slurm's 1 s scheduling tick wants."""
    return wait_for(predicate, timeout=timeout, what=what, interval=interval)


@pytest.fixture(scope="session")
def slurm_user() -> str:
    if not _is_root():
        pytest.skip("needs root to create and become an ordinary user")
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", TEST_USER], check=True)
    return TEST_USER


@pytest.fixture(scope="session")
def slurm(slurm_user: str):
    """A running single-node Slurm cluster; yields the harness environment.

    The cluster is the machine's one: two test sessions at once take turns
    (an flock on SESSION_LOCK, held for the rest of the session).
    """
    if not _is_root():
        pytest.skip("starting Slurm needs root")
    if not shutil.which("slurmctld") or not shutil.which("sbatch"):
        pytest.skip("Slurm (slurmctld, sbatch) is not installed")
    turn = open(SESSION_LOCK, "a")
    fcntl.flock(turn, fcntl.LOCK_EX)
    env = {**os.environ, "SLURM_TEST_USER": slurm_user, "SLURM_TEST_MINJOBAGE": str(MINJOBAGE),
           "SLURM_TEST_CPUS": "8"}
    was_up = subprocess.run(["scontrol", "ping"], capture_output=True, text=True,
                            env=env).stdout.find("is UP") >= 0
    up = subprocess.run([os.path.join(HARNESS, "slurm-up.sh")], env=env,
                        capture_output=True, text=True)
    if up.returncode != 0:
        pytest.fail(f"slurm-up.sh failed:\n{up.stdout}\n{up.stderr}")
    yield env
    if not was_up and not os.environ.get("GRUNT_TEST_KEEP_SLURM"):
        subprocess.run([os.path.join(HARNESS, "slurm-down.sh")], env=env, capture_output=True)
    turn.close()


@pytest.fixture(params=["root", "user"])
def runner_user(request) -> str | None:
    """None: grunter runs as this process's user (root here); else the ordinary user."""
    if request.param == "root":
        return None
    return request.getfixturevalue("slurm_user")


def grunter_py(**settings) -> str:
    """A grunter.py with these settings."""
    return f"import sys\nfrom gruntlib import runner\nsys.exit(runner.main({settings!r}))\n"


def isolation_files(runner: str) -> dict[str, str]:
    """A project with its own lib/ package, used by grunter.py and by the job,
    whose job.out says: the lib's value, PYTHONPATH, where gruntlib is."""
    grunter = ("import sys\nfrom lib import helper\nassert helper.VALUE == 'project'\n"
               + grunter_py(runner=runner, command=["python3", "job.py"]))
    probe = ("import os, importlib.util\nfrom lib import helper\n"
             "print(helper.VALUE, os.environ.get('PYTHONPATH'), importlib.util.find_spec('gruntlib'))\n")
    return {"grunter.py": grunter, "lib/__init__.py": "", "lib/helper.py": "VALUE = 'project'\n",
            "job.py": probe}


def squeue_ids(name: str, user: str | None = None) -> list[str]:
    """Slurm ids of the queue's jobs (any state) with this job name."""
    argv = ["squeue", "-h", "-t", "all", "-n", name, "-o", "%F"]
    argv += ["-u", user] if user else []
    p = subprocess.run(argv, capture_output=True, text=True, check=True)
    return sorted(set(p.stdout.split()))


class JobDir:
    """A job directory inside a jobs working copy, and grunter run as grund does."""

    def __init__(self, home: str, proj: str, jobid: str, user: str | None):
        self.home = home
        self.user = user
        self.wc = os.path.join(home, "grunt", "srv", SERVER, proj, "jobs")
        self.path = os.path.join(self.wc, "active", jobid, proj)
        self.runtime = os.path.join(home, "grunt", "runtime")
        self.fifo = os.path.join(home, "grunt", "srv", SERVER, "grund.fifo")
        self.jobid = jobid

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def read(self, name: str) -> str | None:
        try:
            with open(self.file(name), encoding="utf-8") as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def has(self, name: str) -> bool:
        return os.path.exists(self.file(name))

    def touch(self, name: str) -> None:
        with open(self.file(name), "w"):
            pass
        self._own(self.file(name))

    def _own(self, path: str) -> None:
        if self.user:
            shutil.chown(path, self.user, self.user)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment grund would give grunter: no PYTHONPATH, nothing of ours."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "HOME": pwd.getpwnam(self.user).pw_dir if self.user else os.environ.get("HOME", "/root")}
        if "SLURM_CONF" in os.environ:
            env["SLURM_CONF"] = os.environ["SLURM_CONF"]
        env.update(extra or {})
        return env

    def as_user(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *argv] if self.user else argv

    def grunter(self, cmd: str, env: dict[str, str] | None = None, timeout: float = 60,
                check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(self.as_user(runtime.grunter_argv(self.runtime, cmd)), cwd=self.path,
                           env=self.env(env), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"grunter {cmd} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        return p

    def status(self, **kw) -> str:
        """job.status after one ``grunter status``."""
        self.grunter("status", **kw)
        return self.read("job.status") or ""

    def status_until(self, states: str | tuple[str, ...], timeout: float = 30.0, **kw) -> str:
        """Run ``grunter status`` until job.status starts with one of ``states``."""
        states = (states,) if isinstance(states, str) else states
        return wait_until(lambda: (s := self.status(**kw)).split(" ")[0] in states and s,
                          timeout=timeout, interval=0.2, what=f"status {states} of {self.path}")


def _git(*args: str, cwd: str) -> None:
    subprocess.run(["git", "-c", "user.name=grunt test", "-c", "user.email=test@grunt",
                    "-c", "init.defaultBranch=main", "-c", "safe.directory=*", *args], cwd=cwd, check=True,
                   capture_output=True)


def build_job(base: str, files: dict[str, str], args=(), user: str | None = None,
              proj: str = "proj", jobid: str = "abc000001") -> JobDir:
    """A job directory under ``base`` (a home): ``files`` (name -> text, with
    grunter.py) committed in the jobs working copy, as grund finds them after a
    push; the runtime installed; everything belonging to ``user``."""
    job = JobDir(base, proj, jobid, user)
    os.makedirs(job.path)
    if not os.path.isdir(os.path.join(job.wc, ".git")):
        _git("init", "-q", ".", cwd=job.wc)
    for name, text in {**files, "job.args": "".join(f"{a}\n" for a in args),
                       "job.submit": "2024-01-01 00:00:00 UTC\n"}.items():
        path = job.file(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    _git("add", "-A", ".", cwd=job.wc)
    _git("commit", "-q", "-m", f"submit {jobid}", cwd=job.wc)
    runtime.install(job.runtime)
    if user:
        ids = pwd.getpwnam(user)
        for d, dirs, names in os.walk(base):
            for n in [d, *(os.path.join(d, x) for x in dirs + names)]:
                os.lchown(n, ids.pw_uid, ids.pw_gid)
    return job


def new_base() -> str:
    """A fresh home for one test's server side, reachable by the ordinary user."""
    base = tempfile.mkdtemp(prefix="grunt-runner-")
    os.chmod(base, 0o755)
    return base


@pytest.fixture
def runner_job():
    """runner_job(files, args=(), user=None, proj='proj', jobid='abc000001', base=None).

    Jobs made with the same ``base`` (a JobDir's ``home``) share its jobs
    working copy; without one each gets a fresh home, removed afterwards.
    """
    made: list[str] = []

    def make(files: dict[str, str], args=(), user: str | None = None, proj: str = "proj",
             jobid: str = "abc000001", base: str | None = None) -> JobDir:
        if base is None:
            base = new_base()
            made.append(base)
        return build_job(base, files, args, user, proj, jobid)

    yield make
    for base in made:
        shutil.rmtree(base, ignore_errors=True)
