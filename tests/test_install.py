"""`make install`: two single files that are a complete install, and grund from cron.

The installed files run in a clean environment (``env -i PATH=/usr/bin:/bin``)
from another directory: --version, init, a whole job on the local runner, and
the crontab line, which starts exactly one grund however often it runs.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import zipapps
from fixture_core import ROOT, SERVER, wait_for
from lib import __version__

CLEAN_PATH = "/usr/bin:/bin"

# whole-system runs of the executables: not in make check
pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def installed():
    """`make install DESTDIR=...` from a copy of the repo, with HOME=/h (the default PREFIX)."""
    with tempfile.TemporaryDirectory(prefix="grunt-src.") as tree:
        zipapps.copy_sources(tree)
        dest = tempfile.mkdtemp(prefix="grunt-dest.")
        env = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}
        p = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", f"PYTHON={sys.executable}"],
                           cwd=tree, env=dict(env, HOME="/h"), capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        for more in (["PREFIX=/opt/g", "BASHCOMPDIR=/etc/comp"], ["BINDIR=/b"]):
            other = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", *more,
                                    f"PYTHON={sys.executable}"],
                                   cwd=tree, env=dict(env, HOME="/h"), capture_output=True, text=True)
            assert other.returncode == 0, other.stdout + other.stderr
    yield dest
    shutil.rmtree(dest, ignore_errors=True)


def test_make_install_places_two_files_and_the_completion(installed):
    assert sorted(os.listdir(os.path.join(installed, "h", "bin"))) == ["grund", "grunt"]
    comp = os.path.join(installed, "h", ".local", "share", "bash-completion", "completions", "grunt")
    assert open(comp).read() == open(os.path.join(ROOT, "grunt.bash-completion")).read()
    zsh = os.path.join(installed, "h", ".local", "share", "zsh", "site-functions", "_grunt")
    assert open(zsh).read() == open(os.path.join(ROOT, "grunt.zsh-completion")).read()
    # PREFIX (GNU's: the programs in PREFIX/bin, the completions below PREFIX/share),
    # BASHCOMPDIR and BINDIR moved
    assert sorted(os.listdir(os.path.join(installed, "opt", "g", "bin"))) == ["grund", "grunt"]
    assert os.path.isfile(os.path.join(installed, "etc", "comp", "grunt"))
    assert os.path.isfile(os.path.join(installed, "opt", "g", "share", "zsh", "site-functions",
                                       "_grunt"))
    assert sorted(os.listdir(os.path.join(installed, "b"))) == ["grund", "grunt"]
    for exe in ("grunt", "grund"):
        with open(os.path.join(installed, "h", "bin", exe), "rb") as f:
            assert f.read(2) == b"#!"   # a single executable file (a zipapp)
        for d in (("h", "bin"), ("opt", "g", "bin")):   # 0755: a group install runs for others
            assert os.stat(os.path.join(installed, *d, exe)).st_mode & 0o777 == 0o755


def _copy_to(installed: str, bindir: str) -> None:
    """'Copy the two files to another machine': a fresh directory, nothing else."""
    os.makedirs(bindir)
    for exe in ("grunt", "grund"):
        shutil.copy2(os.path.join(installed, "h", "bin", exe), bindir)


def _clean(bindir: str, home: str, cwd: str, *argv: str, extra: dict | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess:
    exe = os.path.join(bindir, argv[0])
    env = {"PATH": CLEAN_PATH, "HOME": home, **(extra or {})}
    return subprocess.run(["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), exe,
                           *argv[1:]], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def ok(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 0 and "Traceback" not in p.stderr, \
        f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return p.stdout


def _grunds(home: str) -> list[int]:
    """pids of the grund processes serving ``home`` (found through their environment)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if any(c.endswith(b"/grund") for c in cmd[:2]) and f"HOME={home}".encode() in env:
            found.append(int(pid))
    return found


def test_copied_files_are_a_complete_install(installed, tmp_path):
    bindir, srv, cli, work = (str(tmp_path / d) for d in ("elsewhere/bin", "srv", "cli", "work"))
    _copy_to(installed, bindir)
    for home in (srv, cli):
        os.makedirs(home)
        with open(os.path.join(home, ".grunt.defserver"), "w") as f:
            f.write(SERVER + "\n")
    os.makedirs(work)
    assert ok(_clean(bindir, cli, "/", "grunt", "--version")) == f"grunt {__version__}\n"
    assert ok(_clean(bindir, srv, "/", "grund", "--version")) == f"grund {__version__}\n"

    proj = os.path.join(work, "p")
    os.makedirs(proj)
    with open(os.path.join(proj, "run.sh"), "w") as f:
        f.write('echo "ran with $*"\n')
    ident = ["-c", "user.name=T", "-c", "user.email=t@x"]
    for argv in (["init", "-q"], ["add", "-A"], [*ident, "commit", "-q", "-m", "start"]):
        subprocess.run(["git", *argv], cwd=proj, check=True, capture_output=True)
    # grunter_example.py ships inside the zipapp
    said = ok(_clean(bindir, cli, proj, "grunt", "init"))
    assert "Edit the SETTINGS at its top" in said
    text = open(os.path.join(proj, "grunter.py")).read()
    assert text == open(os.path.join(ROOT, "grunter_example.py")).read()
    with open(os.path.join(proj, "grunter.py"), "w") as f:   # this machine has Slurm: stay local
        f.write(text.replace('"runner": "auto"', '"runner": "local"'))

    ok(_clean(bindir, srv, work, "grunt", "newproj", "p"))
    ok(_clean(bindir, cli, proj, "grunt", "newproj", "p", srv))
    jid = ok(_clean(bindir, cli, proj, "grunt", "submit", "x", "-m", "clean")).strip()

    # the crontab line, twice at the same moment and once more: one grund; the one
    # that started it says so (cron mails it), the others are silent
    cron = [subprocess.Popen(["/usr/bin/env", "-i", f"PATH={CLEAN_PATH}", f"HOME={srv}",
                              os.path.join(bindir, "grund"), "--cron", "--interval", "0.2"],
                             cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)]
    said = []
    for p in cron:
        out, err = p.communicate(timeout=30)
        assert err == b"" and p.returncode == 0
        said += out.decode().splitlines()
    try:
        assert ok(_clean(bindir, srv, "/", "grund", "--cron")) == ""
        pids = wait_for(lambda: _grunds(srv), what="grund started by cron")
        assert said == [f"started grund for server {SERVER} (pid {pids[0]}), logging to "
                        f"{srv}/grunt/srv/{SERVER}/grund.log"]
        time.sleep(0.3)
        assert _grunds(srv) == pids and len(pids) == 1
        lock = os.path.join(srv, "grunt", "srv", SERVER, "grund.lock")
        assert open(lock).read().strip() == str(pids[0])

        # the cron-started grund runs the job; wait returns once it is Done
        r = _clean(bindir, cli, proj, "grunt", "wait", jid, extra={"GRUNT_WAIT_POLL": "0.2"})
        lines = ok(r).splitlines()
        assert lines[0].startswith("ID ") and lines[1].startswith(f"{jid}  {SERVER} ")
        assert " Done " in lines[1] and len(lines) == 2
        assert ok(_clean(bindir, cli, proj, "grunt", "out", jid)) == "ran with x\n"
        log = open(os.path.join(srv, "grunt", "srv", SERVER, "grund.log")).read()
        assert f"grund {pids[0]} serving {SERVER}" in log and f"submit {jid}" in log
    finally:
        for pid in _grunds(srv):
            os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not _grunds(srv), what="grund to stop")


def test_grund_log_rotates(core, monkeypatch):
    from lib.server import grund as daemon
    monkeypatch.setattr(daemon, "LOG_BYTES", 400)
    for _ in range(8):
        core.grund("--once")   # two INFO lines each, into the file even with -q on stderr
    logdir = os.path.join(core.srv, "grunt", "srv", SERVER)
    names = sorted(n for n in os.listdir(logdir) if n.startswith("grund.log"))
    assert names == ["grund.log", "grund.log.1", "grund.log.2", "grund.log.3"]
    assert all(os.path.getsize(os.path.join(logdir, n)) <= 400 for n in names)
    assert "serving" in open(os.path.join(logdir, "grund.log")).read()


def test_init_keeps_an_existing_grunter(core):
    top = core.project("p", grunter="")
    r = core.grunt("init", cwd=top).ok()
    assert r.out.startswith(f"wrote {top}/grunter.py from grunter_example.py.")
    with open(os.path.join(top, "grunter.py"), "w") as f:
        f.write("# mine\n")
    r = core.grunt("init", cwd=top)
    assert (r.rc, r.out) == (1, "") and r.err == (
        f"grunt: error: {top}/grunter.py exists already: edit it, or start over with "
        "grunt init --force\n")
    assert open(os.path.join(top, "grunter.py")).read() == "# mine\n"
    core.grunt("init", "--force", cwd=top).ok()
    assert open(os.path.join(top, "grunter.py")).read() == \
        open(os.path.join(ROOT, "grunter_example.py")).read()
    r = core.grunt("init", cwd=core.work)
    assert r.rc == 1 and r.err.startswith("grunt: error: not a git checkout") and r.err.count("\n") == 1
    assert not os.path.exists(os.path.join(core.work, "grunter.py"))
