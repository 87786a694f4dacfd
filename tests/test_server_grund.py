"""grund: exactly once, one instance, wake-ups, crashes, stale locks, running jobs."""
import json
import logging
import os
import signal
import time

from fixture_core import GRUND, SERVER, git, wait_for
from lib.gruntlib.jobdir import JobDir
from lib.server import grund as daemon
from lib.server.project import ServedProject

# run.sh that blocks (bounded) until the test creates `go` in the job directory
WAIT_SH = ('touch "$HOME/started"\n'
           'n=0; while [ ! -e go ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done\n'
           'echo "finished $*"\n')


def lock_pid(core):
    text = core.read(os.path.join(core.srv, "grunt", "srv", SERVER, "grund.lock")) \
        if os.path.exists(os.path.join(core.srv, "grunt", "srv", SERVER, "grund.lock")) else ""
    return int(text) if text.strip().isdigit() else None


def handled(core, jid):
    """grund committed the job's files and pushed them (job.log is in the bare repo)."""
    names = git("ls-tree", "-r", "--name-only", "main", cwd=core.bare("p"))
    return f"active/{jid}/p/job.log" in names.split("\n")


def test_once_runs_each_command_exactly_once(core, core_proj):
    ids = [core.submit(str(i), cwd=core_proj) for i in range(3)]
    core.grund()
    assert core.calls() == [f"{c} {j}" for j in ids for c in ("submit", "results")]
    core.grund()
    core.grund()
    assert len(core.calls()) == 6
    new = core.submit("x", cwd=core_proj)
    core.grund()
    assert core.calls()[6:] == [f"submit {new}", f"results {new}"]
    jobs = core.jobs(cwd=core_proj)
    assert [jobs[j]["status"] for j in ids + [new]] == ["Done"] * 4
    # a lost cursor: grund starts after its own last commit, nothing runs again
    os.unlink(os.path.join(core.swc("p"), ".git", "grund-cursor"))
    core.grund()
    assert len(core.calls()) == 8


def test_grund_needs_a_server_name(core):
    os.unlink(os.path.join(core.srv, ".grunt.defserver"))
    r = core._call(daemon.main, ["--once", "-q"], None, core.srv)
    assert r.rc == 1 and r.err.startswith("grund: error: no server name set: create it with echo")


def test_one_grund_at_a_time_and_kill_9(core, core_proj):
    first = core.start(GRUND, "--interval", "60", "-q")
    wait_for(lambda: lock_pid(core) == first.pid, what="grund to take its lock")
    p = core.run(GRUND, "--once", "-q", home=core.srv)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr == (f"grund: error: grund is already running for server {SERVER} "
                        f"(pid {first.pid}); stop it first, or use: grund restart\n")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    jid = core.submit(cwd=core_proj)
    p = core.run(GRUND, "--once", "-q", home=core.srv)
    assert p.returncode == 0, p.stderr
    assert core.jobs(cwd=core_proj)[jid]["status"] == "Done"


def test_restart_replaces_a_running_grund(core, core_proj):
    first = core.start(GRUND, "--interval", "60", "-q")
    wait_for(lambda: lock_pid(core) == first.pid, what="grund to take its lock")
    second = core.start(GRUND, "restart", "--interval", "60", "-q")
    assert first.wait(timeout=20) == 0
    wait_for(lambda: lock_pid(core) == second.pid, what="the new grund to take the lock")
    assert second.poll() is None
    jid = core.submit(cwd=core_proj)
    wait_for(lambda: handled(core, jid), what="the new grund to run the job")
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0


def test_a_push_wakes_grund_long_before_its_interval(core, core_proj):
    first = core.submit("1", cwd=core_proj)
    g = core.start(GRUND, "--interval", "60", "-q")
    wait_for(lambda: handled(core, first), what="grund's first round")
    t0 = time.monotonic()
    jid = core.submit("2", cwd=core_proj)
    wait_for(lambda: handled(core, jid), timeout=10, what="the push to wake grund")
    assert time.monotonic() - t0 < 10
    assert core.jobs(cwd=core_proj)[jid]["status"] == "Done"
    g.send_signal(signal.SIGTERM)
    assert g.wait(timeout=20) == 0


def cursor_for_crash(core, jid):
    """The cursor grund leaves when it dies while running the submit of ``jid``."""
    path = f"active/{jid}/p/grcmd.submit"
    commit = git("log", "-1", "--format=%H", "origin/main", "--", path, cwd=core.swc("p")).strip()
    parent = git("rev-parse", f"{commit}^", cwd=core.swc("p")).strip()
    cursor = os.path.join(core.swc("p"), ".git", "grund-cursor")
    core.write(cursor, json.dumps({"commit": parent, "inflight": [commit, path]}))


def test_crash_after_submitting_does_not_submit_again(core, core_proj):
    jid = core.submit(cwd=core_proj)
    core.grund()
    assert core.calls() == [f"submit {jid}", f"results {jid}"]
    cursor_for_crash(core, jid)
    core.grund()
    # not submitted again; the results are copied again, as a copy may have been cut short
    assert core.calls() == [f"submit {jid}", f"results {jid}", f"results {jid}"]
    log = core.read(os.path.join(core.sjob(jid), "job.log"))
    assert "submit: grund was interrupted after submitting; not submitted again" in log
    assert core.jobs(cwd=core_proj)[jid]["status"] == "Done"


def test_a_command_that_keeps_failing_is_given_up_and_the_rest_go_on(core, core_proj):
    core.grund()
    stuck = core.submit(cwd=core_proj)
    after = core.submit(cwd=core_proj)
    git("fetch", "-q", cwd=core.swc("p"))
    cursor_for_crash(core, stuck)
    # as if grund had died on this very command three times already
    cursor = os.path.join(core.swc("p"), ".git", "grund-cursor")
    core.write(cursor, json.dumps({**json.loads(core.read(cursor)), "tries": 3}))
    core.grund(errors=True)
    assert core.calls() == [f"submit {after}", f"results {after}"]
    log = core.read(os.path.join(core.sjob(stuck), "job.log"))
    assert "grcmd.submit: grund gave up after 3 failed tries" in log
    jobs = core.jobs(cwd=core_proj)
    assert (jobs[stuck]["status"], jobs[after]["status"]) == ("Failed", "Done")
    assert "grund gave up after 3 failed tries" in core.grunt("out", stuck, cwd=core_proj).out


def test_crash_before_submitting_submits_once(core, core_proj):
    core.grund()  # grund has seen the project
    jid = core.submit(cwd=core_proj)
    git("fetch", "-q", cwd=core.swc("p"))
    cursor_for_crash(core, jid)
    core.grund()
    assert core.calls() == [f"submit {jid}", f"results {jid}"]
    assert core.jobs(cwd=core_proj)[jid]["status"] == "Done"


def test_stale_index_lock_is_recovered(core, core_proj, caplog):
    core.grund()
    old = time.time() - 3600
    locks = [os.path.join(core.swc("p", kind), ".git", "index.lock") for kind in ("jobs", "results")]
    for lock in locks:
        core.write(lock, "")
        os.utime(lock, (old, old))
    jid = core.submit(cwd=core_proj)
    with caplog.at_level(logging.WARNING, logger="grund"):
        core.grund()
    assert not any(os.path.exists(lock) for lock in locks)
    assert sum("removing stale" in r.getMessage() for r in caplog.records) == 2
    assert core.jobs(cwd=core_proj)[jid]["status"] == "Done"
    assert git("status", "--porcelain", "--untracked-files=no", cwd=core.swc("p")) == ""


def test_kill_9_during_submit(core):
    top = core.project("p", run_sh=WAIT_SH)
    core.newproj("p")
    jid = core.submit("a", cwd=top)
    g = core.start(GRUND, "--interval", "60", "-q")
    wait_for(lambda: os.path.exists(os.path.join(core.srv, "started")), what="the job to start")
    g.send_signal(signal.SIGKILL)
    g.wait(timeout=10)
    # the next grund needs no reset, and does not submit again
    p = core.run(GRUND, "--once", "-q", home=core.srv)
    assert p.returncode == 0, p.stderr
    assert core.calls() == [f"submit {jid}"]
    assert "not submitted again" in core.read(os.path.join(core.sjob(jid), "job.log"))
    assert core.jobs(cwd=top)[jid]["status"] == "Running"
    # the orphaned submit ends; grund picks up its files
    core.write(os.path.join(core.sjob(jid), "go"), "")
    wait_for(lambda: os.path.exists(os.path.join(core.sjob(jid), "job.end")), what="job.end")
    core.grund()
    j = core.jobs(cwd=top)[jid]
    assert (j["status"], j["exit_code"]) == ("Done", 0)
    assert core.calls() == [f"submit {jid}", f"results {jid}"]
    assert core.read(os.path.join(core.cjob(jid), "job.out")) == "finished a\n"


def test_running_job_files_are_collected(core):
    top = core.project("p", grunter="async")
    core.newproj("p")
    jid = core.submit("x", cwd=top)
    core.grund()
    j = core.jobs(cwd=top)[jid]
    pid = core.read(os.path.join(core.sjob(jid), "job.pid")).strip()
    assert (j["status"], j["sched_id"], j["start"]) == ("Pending", pid, "")
    core.write(os.path.join(core.sjob(jid), "go"), "")
    wait_for(lambda: os.path.exists(os.path.join(core.sjob(jid), "job.end")), what="job.end")
    core.grund()
    j = core.jobs(cwd=top)[jid]
    assert (j["status"], j["exit_code"]) == ("Done", 0)
    assert j["start"] and j["end"]
    log = git("log", "--format=%an %s", "main", cwd=core.bare("p"))
    assert f"grund job files of {jid}" in log
    # results came along when the job ended
    assert core.read(os.path.join(core.sjob(jid, kind="results"), "out", "result.txt")) == \
        "result of x\n"
    assert core.calls() == [f"submit {jid}", f"results {jid}"]


def test_a_job_that_ends_just_after_grund_looked_is_still_finished(core, monkeypatch):
    """The job ends between grund's look (not at rest) and the commit of its submit:
    its end goes into a commit all the same, and its results must be copied."""
    top = core.project("p", grunter="async")
    core.newproj("p")
    jid = core.submit("x", cwd=top)
    real = JobDir.at_rest

    def at_rest(job):
        rest = real(job)
        go = os.path.join(job.path, "go")
        if not rest and job.has("job.pid") and not os.path.exists(go):
            core.write(go, "")     # ... and the job ends right after this look
            wait_for(lambda: job.has("job.end"), what="job.end")
        return rest
    monkeypatch.setattr(JobDir, "at_rest", at_rest)
    core.grund()
    assert core.read(os.path.join(core.sjob(jid, kind="results"), "out", "result.txt")) == \
        "result of x\n"
    assert core.calls() == [f"submit {jid}", f"results {jid}"]
    core.grund()
    assert core.calls() == [f"submit {jid}", f"results {jid}"]   # once


def push_files(core, files, msg="crafted"):
    """Commit files into the client's jobs working copy and push, as a client would."""
    wc = core.cwc("p")
    git("pull", "-q", "--ff-only", cwd=wc)
    for rel, text in files.items():
        core.write(os.path.join(wc, rel), text)
    git("-c", "core.sparseCheckout=false", "add", "-A", cwd=wc)  # a sparse copy (add --sparse: git 2.34)
    git("commit", "-q", "-m", msg, cwd=wc)
    git("push", "-q", "origin", "HEAD:main", cwd=wc)


def test_grund_runs_only_grcmd_files_of_its_jobs(core, core_proj):
    jid = core.submit(cwd=core_proj)
    core.grund()
    grunter = core.read(os.path.join(core_proj, "grunter.py"))
    push_files(core, {
        f"active/{jid}/p/sub/grcmd.submit": "x\n",          # too deep
        "active/ali000005/other/grunter.py": grunter,        # another project's folder
        "active/ali000005/other/grcmd.submit": "x\n",
        "active/notajob/p/grcmd.submit": "x\n",
        f"active/{jid}/p/grcmd.Bad;rm": "x\n",               # not a command name
        f"active/{jid}/p/grcmd.hello": "2026-01-01 00:00:00 UTC\n",  # any other command: grunter's
    })
    core.grund()
    assert core.calls() == [f"submit {jid}", f"results {jid}", f"hello {jid}"]
    log = core.read(os.path.join(core.sjob(jid), "job.log"))
    assert "grunter.py hello: exit 2\n  grunter: unknown command hello\n" in log


def test_grund_merges_when_a_client_pushes_meanwhile(core, core_proj, monkeypatch):
    first = core.submit("1", cwd=core_proj)
    original = ServedProject.collect_changes
    pushed = []

    def client_pushes_first(self):
        if not pushed:  # a client pushes while grund is busy with the first job
            pushed.append(core.submit("2", cwd=core_proj))
            core.home(core.srv)
        return original(self)
    monkeypatch.setattr(ServedProject, "collect_changes", client_pushes_first)
    core.grund()
    second = pushed[0]
    assert core.calls() == [f"submit {first}", f"results {first}"]
    log = git("log", "--format=%an %s", "main", cwd=core.bare("p"))
    assert f"test user submit {second}" in log.lower() and f"grund submit {first}" in log
    core.grund()
    assert core.calls()[2:] == [f"submit {second}", f"results {second}"]
    jobs = core.jobs(cwd=core_proj)
    assert (jobs[first]["status"], jobs[second]["status"]) == ("Done", "Done")
