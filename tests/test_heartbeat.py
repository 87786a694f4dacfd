"""grund's heartbeat: seen by the client in its one fetch, without commits or wake-ups."""
from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import time

from fixture_core import SERVER, git
from lib import __version__, heartbeat as H
from lib.server.project import ServedProject, Settings


def _beat(core, **data) -> None:
    """Put a heartbeat of our own making into the server's bare repo."""
    H.write(core.bare("p"), {"time": "2026-01-01 00:00:00 UTC", "version": "0.0.9", **data}, [])


def test_server_status_shows_grund_and_its_pending_work(core, core_proj):
    r = core.grunt("server-status", cwd=core_proj)
    assert r.rc == 1 and "grund       never seen (no heartbeat yet)" in r.out
    assert "grund --cron" in r.err

    core.grund()
    r = core.grunt("server-status", cwd=core_proj).ok()
    lines = r.out.splitlines()
    assert lines[0] == f"server      {SERVER} (project p)"
    assert lines[1].startswith(f"grund       {__version__}, pid {os.getpid()} on ")
    assert lines[2].startswith("last seen   ") and lines[2].endswith(" s ago)")
    assert lines[3:] == ["pending     0 command(s) not yet processed", "unfinished  0 job(s)"]

    # work pushed while grund is away: the client counts it from grund's cursor
    jid = core.submit(m="waits", cwd=core_proj)
    core.grunt("cancel", jid, cwd=core_proj).ok()
    info = json.loads(core.grunt("server-status", "--json", cwd=core_proj).ok().out)
    assert info["pending"] == [f"submit {jid}", f"cancel {jid}"]
    assert info["version"] == __version__ and info["unfinished"] == 1 and info["age"] < 60
    core.grund()
    info = json.loads(core.grunt("server-status", "--json", cwd=core_proj).ok().out)
    assert info["pending"] == [] and info["unfinished"] == 0


def test_jobs_warns_when_grund_was_not_seen_for_a_while(core, core_proj):
    core.submit(m="x", cwd=core_proj)
    core.grund()
    assert core.grunt("jobs", cwd=core_proj).ok().err == ""
    _beat(core, unix=int(time.time()) - H.STALE - 60)
    r = core.grunt("jobs", cwd=core_proj).ok()
    assert r.err == (f"grunt: warning: grund on {SERVER} was last seen 11 min ago "
                     "(2026-01-01 00:00:00 UTC): is it running? (grunt server-status)\n")
    assert core.grunt("server-status", cwd=core_proj).rc == 1
    # --json output stays clean JSON; the warning is on stderr
    r = core.grunt("jobs", "--json", cwd=core_proj).ok()
    assert json.loads(r.out)[0]["status"] == "Done" and "last seen" in r.err


def test_jobs_warns_when_grund_never_ran_and_jobs_wait(core, core_proj, monkeypatch):
    core.submit(m="x", cwd=core_proj)
    assert core.grunt("jobs", cwd=core_proj).ok().err == ""   # just submitted: no alarm
    monkeypatch.setattr(H, "STALE", -1)
    assert core.grunt("jobs", cwd=core_proj).ok().err == (
        f"grunt: warning: grund on {SERVER} has never been seen, and 1 job(s) wait for it: "
        "is it running? (grunt server-status)\n")


def test_the_heartbeat_names_the_results_tip_before_the_jobs_that_ended_arrive(core, core_proj,
                                                                               monkeypatch):
    from lib.server.workcopy import WorkCopy
    jid = core.submit(m="x", cwd=core_proj)   # the test grunter runs it within submit
    seen = []
    real = WorkCopy.push

    def push(wc):   # what a client fetching the jobs just before their push would see
        if wc.path.endswith("jobs"):
            seen.append(H.read_own(core.bare("p"))[1].get("results"))
        return real(wc)
    monkeypatch.setattr(WorkCopy, "push", push)
    core.grund()
    tip = git("rev-parse", "main", cwd=core.bare("p", kind="results")).strip()
    assert git("ls-tree", "-r", "--name-only", "main", cwd=core.bare("p", kind="results")).count(jid)
    assert seen == [tip]
    assert H.read_own(core.bare("p"))[1]["results"] == tip


def test_heartbeat_makes_no_commit_no_wakeup_and_no_trail(core, core_proj):
    core.grund()
    bare = core.bare("p")
    tip = git("rev-parse", "refs/heads/main", cwd=bare)
    st = ServedProject(Settings(SERVER, "", 600, 300), "p")
    sig = st.signature([])
    blobs: list[str] = []
    for n in range(5):
        H.write(bare, {"n": n, "unix": int(time.time())}, blobs)
    assert git("rev-parse", "refs/heads/main", cwd=bare) == tip
    assert st.signature([]) == sig   # what grund watches did not move
    assert json.loads(git("cat-file", "blob", H.REF, cwd=bare))["n"] == 4
    loose = subprocess.run(["git", "cat-file", "--batch-check", "--batch-all-objects"], cwd=bare,
                           capture_output=True, text=True).stdout
    ours = [ln for ln in loose.splitlines() if ln.split()[0] in blobs]
    assert len(blobs) == 2 and len(ours) == 2   # only the last two heartbeats are kept


def test_a_new_grund_goes_on_from_an_idle_projects_last_heartbeat(core, core_proj):
    core.grund()
    ref = os.path.join(core.bare("p"), *H.REF.split("/"))
    first = os.stat(ref).st_ino
    core.grund()   # idle, its heartbeat not a minute old: left as it is (a --once from cron)
    assert os.stat(ref).st_ino == first
    data = json.loads(git("cat-file", "blob", H.REF, cwd=core.bare("p")))
    # a minute old: written again
    H.write(core.bare("p"), dict(data, unix=int(time.time()) - H.EVERY - 1), [])
    core.grund()
    assert time.time() - json.loads(git("cat-file", "blob", H.REF, cwd=core.bare("p")))["unix"] < 5
    # another version's heartbeat, however young, is replaced by this one's
    H.write(core.bare("p"), dict(data, version="0.0.9", unix=int(time.time())), [])
    core.grund()
    assert json.loads(git("cat-file", "blob", H.REF, cwd=core.bare("p")))["version"] == __version__


def test_a_grund_killed_while_it_beats_leaves_the_repo_sound(tmp_path):
    """kill -9 between writing the blob and renaming it into place: git fsck stays clean."""
    bare = tmp_path / "b.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # the kill lands exactly there: os.replace of the first file written (the blob)
    code = ("import os, signal, sys\n"
            f"sys.path.insert(0, {root!r})\n"
            "from lib import heartbeat as H\n"
            "H.os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
            f"H.write({str(bare)!r}, {{'n': 1}}, [])\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert p.returncode == -9
    left = [f for d, _, fs in os.walk(bare / "objects") for f in fs]
    assert len(left) == 1   # the unfinished blob, under a name git knows for one
    fsck = subprocess.run(["git", "fsck", "--no-dangling", "--no-progress"], cwd=bare,
                          capture_output=True, text=True)
    complaints = [ln for ln in fsck.stderr.splitlines() if not ln.startswith("notice:")]  # no branch yet
    assert (fsck.returncode, fsck.stdout, complaints) == (0, "", [])


def test_a_clean_stop_of_grund_is_said_at_once(core, core_proj):
    from fixture_core import GRUND, wait_for
    r = core.run(GRUND, "status", home=core.srv)
    assert (r.returncode, r.stdout) == (1, f"grund is not running for server {SERVER} "
                                           "(start it with: grund --cron)\n")
    jid = core.submit(m="x", cwd=core_proj)
    p = core.start(GRUND, "--interval", "0.2")
    wait_for(lambda: core.jobs(cwd=core_proj)[jid]["status"] == "Done", what="the job")
    r = core.run(GRUND, "status", home=core.srv)
    assert (r.returncode, r.stdout) == (0, f"grund is running for server {SERVER} (pid {p.pid})\n")
    assert core.grunt("jobs", cwd=core_proj).ok().err == ""
    r = core.run(GRUND, "stop", home=core.srv)
    assert (r.returncode, r.stdout) == (0, f"stopped grund for server {SERVER} (pid {p.pid})\n")
    assert p.wait(timeout=10) == 0
    said = re.compile(rf"grunt: warning: grund on {SERVER} was stopped at \S+ \S+ UTC: start it "
                      r"there with grund --cron \(or wait for the crontab line\)\n")
    assert said.fullmatch(core.grunt("jobs", cwd=core_proj).ok().err)
    r = core.grunt("submit", "-m", "while it is stopped", cwd=core_proj).ok()
    assert said.fullmatch(r.err)
    assert said.fullmatch(core.grunt("wait", jid, cwd=core_proj).ok().err)
    r = core.grunt("server-status", cwd=core_proj)
    assert r.rc == 1 and " (stopped)\n" in r.out and said.fullmatch(r.err)
    assert json.loads(core.grunt("server-status", "--json", cwd=core_proj).out)["state"] == "stopped"
    assert core.run(GRUND, "stop", home=core.srv).returncode == 0   # stopping twice is fine
    core.grund()   # a grund that runs again is seen again
    assert core.grunt("jobs", cwd=core_proj).ok().err == ""
    assert json.loads(core.grunt("server-status", "--json", cwd=core_proj).out)["state"] == "running"


def test_server_status_says_when_grund_is_stuck(core, core_proj, monkeypatch):
    from lib.cli import listing
    core.grund()
    jid = core.submit(m="x", cwd=core_proj)   # grund runs (fresh heartbeat) but never takes it
    assert core.grunt("server-status", cwd=core_proj).rc == 0
    later = time.time() + H.STALE + 60

    class Later:
        @staticmethod
        def time():
            return later
    monkeypatch.setattr(listing, "time", Later)
    r = core.grunt("server-status", cwd=core_proj)
    assert r.rc == 1 and f"pending     1 command(s) not yet processed: submit {jid}" in r.out
    assert r.err == (f"grunt: warning: grund on {SERVER} runs but has not processed a command "
                     f"pushed 11 min ago: see ~/grunt/srv/{SERVER}/grund.log there\n")
