"""grund running grunter.py: one that crashes, hangs or floods its output, one that
outlives grund, one that ends well but submits nothing."""
import os
import signal
import subprocess
import time

from fixture_core import GRUND, wait_for


def grunter_project(core, body):
    """A project whose grunter.py is ``body`` (counts calls like the test grunters)."""
    head = ("import os, sys, time, subprocess\n"
            "with open(os.path.join(os.environ['HOME'], 'grunter.calls'), 'a') as f:\n"
            "    f.write(sys.argv[1] + ' ' + os.path.basename(os.path.dirname(os.getcwd())) + '\\n')\n")
    proj = core.project("p", grunter="", files={"grunter.py": head + body})
    core.newproj("p")
    return proj


def test_a_grunter_that_crashes(core):
    proj = grunter_project(core, "raise RuntimeError('grunter blew up')\n")
    jid = core.submit(cwd=proj)
    core.grund()
    assert core.jobs(cwd=proj)[jid]["status"] == "Failed"
    out = core.grunt("out", jid, cwd=proj).ok().out
    assert out == "grunter.py submit failed (exit 1): RuntimeError: grunter blew up\n"
    assert core.calls() == [f"submit {jid}", f"results {jid}"]  # results: it has ended


def test_a_grunter_that_hangs_is_stopped(core):
    # it hangs, and so does a child of it that holds its output open
    proj = grunter_project(core, "subprocess.Popen(['sleep', '60.4321'])\ntime.sleep(60)\n")
    jid = core.submit(cwd=proj)
    core.grund("--once", "-q", "--grunter-timeout", "1")
    assert core.jobs(cwd=proj)[jid]["status"] == "Failed"
    msg = "grunter.py submit did not finish within 1 s and was stopped (grund --grunter-timeout)"
    assert core.grunt("out", jid, cwd=proj).ok().out == f"grunter.py submit failed (exit -1): {msg}\n"
    assert msg in core.read(os.path.join(core.sjob(jid), "job.log"))
    assert subprocess.run(["pgrep", "-f", "^sleep 60.4321$"], capture_output=True).stdout == b""


def test_a_grunter_that_prints_10_mb(core):
    proj = grunter_project(core, "for i in range(100000):\n"
                                 "    print(f'{i:08d} ' + 'y' * 92)\n"
                                 "open('job.end', 'w').write('2026-01-01 00:00:00 UTC\\n')\n"
                                 "open('job.exitcode', 'w').write('0\\n')\n")
    jid = core.submit(cwd=proj)
    core.grund()
    log = core.read(os.path.join(core.sjob(jid), "job.log"))
    assert 64 * 1024 < len(log) < 200 * 1024
    assert "[grund: 10134464 bytes of output cut here; job.log keeps 65536 of 10200000]" in log
    assert "00000000 yyy" in log and "00099999 yyy" in log
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(core.bare("p")) for f in fs)
    assert size < 1 << 20
    assert core.jobs(cwd=proj)[jid]["status"] == "Done"


# waits for a file "go" in the job, then fails as sbatch's refusal does
SLOW_FAIL = ("while not os.path.exists('go'):\n"
             "    time.sleep(0.05)\n"
             "if sys.argv[1] == 'submit':\n"
             "    sys.exit('sbatch: error: Batch job submission failed: Invalid account')\n")


def _kill_grund_while_submit_runs(core, proj):
    jid = core.submit(cwd=proj)
    g = core.start(GRUND, "--interval", "60", "-q")
    wait_for(lambda: core.calls() == [f"submit {jid}"], what="grunter.py submit to start")
    g.send_signal(signal.SIGKILL)
    g.wait(timeout=10)
    return jid


def _failed_once(core, proj, jid):
    j = core.jobs(cwd=proj)[jid]
    assert j["status"] == "Failed", j
    err = "grunter.py submit failed (exit 1): sbatch: error: Batch job submission failed: Invalid account\n"
    assert core.grunt("out", jid, cwd=proj).ok().out == err
    assert [c for c in core.calls() if c.startswith("submit")] == [f"submit {jid}"]
    assert "its outcome is taken as it ended, it is not run again" in \
        core.read(os.path.join(core.sjob(jid), "job.log"))


def test_a_failing_submit_that_outlives_grund_is_waited_for_not_run_again(core):
    proj = grunter_project(core, SLOW_FAIL)
    jid = _kill_grund_while_submit_runs(core, proj)
    g = core.start(GRUND, "--once", "-q")        # it waits for the submit still running
    time.sleep(0.5)
    assert g.poll() is None
    core.write(os.path.join(core.sjob(jid), "go"), "")
    assert g.wait(timeout=30) == 0
    _failed_once(core, proj, jid)


def test_a_failing_submit_that_ended_while_grund_was_down_is_not_run_again(core):
    proj = grunter_project(core, SLOW_FAIL)
    jid = _kill_grund_while_submit_runs(core, proj)
    core.write(os.path.join(core.sjob(jid), "go"), "")
    rc = os.path.join(core.swc("p"), ".git", "grund-running", f"{jid}.submit.rc")
    wait_for(lambda: os.path.exists(rc), what="the submit to end")
    core.grund()
    _failed_once(core, proj, jid)
    assert not [n for n in os.listdir(os.path.dirname(rc)) if n.startswith(jid + ".")]


def test_a_submit_that_ends_well_without_a_sign_of_a_job_is_marked(core):
    # as a grunter does that prints sbatch's refusal and exits 0
    proj = grunter_project(core, "if sys.argv[1] == 'submit':\n"
                                 "    print('sbatch: error: Batch job submission failed: Invalid qos')\n")
    jid = core.submit(cwd=proj)
    core.grund()
    assert core.jobs(cwd=proj)[jid]["status"] == "Pending"
    table = core.grunt("jobs", cwd=proj).ok().out
    assert "Pending (submit left no sign)" in table
    out = core.grunt("out", jid, cwd=proj).ok().out
    assert out.startswith("grunter.py submit exited 0 but left no sign of a submitted job")
    assert "sbatch: error: Batch job submission failed: Invalid qos" in out
    show = core.grunt("show", jid, cwd=proj).ok().out
    assert "submit        grunter.py submit exited 0 but left no sign" in show
    assert "Invalid qos" in show
    core.grund()
    assert core.calls() == [f"submit {jid}"]     # and it is not run again
