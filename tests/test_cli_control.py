"""status, update, cancel, message, delete, archive, nuke, undelete, wait, queue:
commands sent to grund, against a server run by grund --once."""
from __future__ import annotations

import os
import shutil
import threading
import time

import pytest

from fixture_core import GRUND, SERVER, fails, git, rows, tracked, wait_for


pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def test_status(core, async_proj):
    jid = core.submit(cwd=async_proj)
    core.grund()
    r = core.grunt("status", cwd=async_proj).ok()
    assert r.out.splitlines()[-1] == f"asked grund on {SERVER} to refresh 1 job(s); see grunt jobs"
    assert rows(r.out)[1][0] == jid
    assert os.path.isfile(os.path.join(core.cjob(jid), "grcmd.status"))
    core.grund()
    assert core.calls() == [f"submit {jid}", f"status {jid}"]
    assert rows(core.grunt("jobs", cwd=async_proj).ok().out)[1][3] == "Pending (Resources)"
    assert core.read(os.path.join(core.cjob(jid), "job.status")) == "PENDING (Resources)\n"
    # by id, again and again within one second: each one reaches grund
    core.grunt("status", jid, cwd=async_proj).ok()
    core.grunt("status", jid, cwd=async_proj).ok()
    core.grund()
    assert core.calls() == [f"submit {jid}"] + [f"status {jid}"] * 3


def test_status_shows_grunds_answer(core, async_proj):
    jid = core.submit(cwd=async_proj)
    core.grund()
    core.mp.setenv("GRUNT_STATUS_WAIT", "20")
    core.start(GRUND, "--interval", "0.2")
    r = core.grunt("status", cwd=async_proj).ok()
    assert r.out.splitlines()[-1] == f"grund on {SERVER} refreshed 1 job(s)"
    assert rows(r.out)[1][:4] == [jid, SERVER, "", "Pending (Resources)"] or \
        "Pending (Resources)" in rows(r.out)[1], r.out
    for p in core.procs:
        p.terminate()
        p.wait(timeout=20)
    # grund is gone: said at once, not after the wait
    t0 = time.monotonic()
    r = core.grunt("status", cwd=async_proj).ok()
    assert time.monotonic() - t0 < 10
    assert r.out.splitlines()[-1] == f"asked grund on {SERVER} to refresh 1 job(s); see grunt jobs"
    assert "has not answered" in r.err


def test_update_with_the_same_files_twice(core, core_proj):
    jid = core.submit(cwd=core_proj)
    core.grund()
    for _ in range(2):
        core.grunt("update", jid, "run.sh", "grunter.py", cwd=core_proj).ok()
        core.grund()
    log = core.read(os.path.join(core.sjob(jid), "job.log"))
    assert log.count("results: copied 2 file(s)") == 2


def test_update_after_a_result_changed_from_file_to_folder(core, core_proj):
    jid = core.submit(cwd=core_proj)
    core.grund()
    job, res = core.sjob(jid), core.sjob(jid, kind="results")
    core.write(os.path.join(job, "r"), "file\n")
    core.grunt("update", jid, "r", cwd=core_proj).ok()
    core.grund()
    assert core.read(os.path.join(res, "r")) == "file\n"
    os.unlink(os.path.join(job, "r"))
    core.write(os.path.join(job, "r", "inner.txt"), "now a folder\n")
    core.grunt("update", jid, "r", cwd=core_proj).ok()
    core.grund()
    assert core.read(os.path.join(res, "r", "inner.txt")) == "now a folder\n"
    assert git("ls-files", f"active/{jid}/p/r", cwd=core.swc("p", "results")).split() == \
        [f"active/{jid}/p/r/inner.txt"]


def test_status_with_no_unfinished_jobs(core, core_proj):
    core.submit(cwd=core_proj)
    core.grund()
    assert core.grunt("status", cwd=core_proj).ok().out == "no unfinished jobs\n"


def test_update_refuses_paths_outside_the_job(core):
    run_sh = 'echo ok > ok.txt\nln -s "$HOME/secret.txt" escape\n'
    top = core.project("p", run_sh=run_sh,
                       files={"results.lst": "../x\n/etc/hostname\nescape\nok.txt\n"})
    core.newproj("p")
    core.write(os.path.join(core.srv, "secret.txt"), "secret\n")
    core.write(os.path.join(core.swc("p"), "active", "x"), "outside\n")
    jid = core.submit(cwd=top)
    core.grund()
    log = core.read(os.path.join(core.sjob(jid), "job.log"))
    assert "results: refused paths outside the job: ../x, /etc/hostname, escape\n" in log
    assert "results: copied 1 file(s)" in log
    assert os.listdir(core.sjob(jid, kind="results")) == ["ok.txt"]
    for bad in ("../x", "/etc/hostname", "a/../../x"):
        r = core.grunt("update", jid, bad, cwd=top)
        assert (r.rc, r.err) == (2, f"grunt: error: result file must be a path inside the job: {bad}\n")
    assert not os.path.exists(os.path.join(core.cjob(jid), "grcmd.update"))


def test_cancel(core, async_proj):
    jid = core.submit(cwd=async_proj)
    core.grund()
    r = core.grunt("cancel", jid, cwd=async_proj).ok()
    assert r.out == f"asked grund on {SERVER} to cancel {jid}\n"
    core.grund()
    # a job that ended: its results are copied at once
    assert core.calls() == [f"submit {jid}", f"cancel {jid}", f"results {jid}"]
    assert core.jobs(cwd=async_proj)[jid]["status"] == "Canceled"
    assert os.path.isfile(os.path.join(core.cjob(jid), "job.canceled"))
    r = core.grunt("cancel", jid, cwd=async_proj)
    assert (r.rc, r.out) == (1, "")
    assert r.err == f"grunt: warning: {jid} is Canceled: nothing to cancel\n"


def test_message(core, core_proj):
    jid = core.submit(m="old", cwd=core_proj)
    r = core.grunt("message", jid, "new text", cwd=core_proj).ok()
    assert r.out == f"{jid}: new text\n"
    assert core.read(os.path.join(core.cjob(jid), "job.message")) == "new text\n"
    assert rows(core.grunt("jobs", cwd=core_proj).ok().out)[1][-1] == "new text"
    core.grund()
    assert core.jobs(cwd=core_proj)[jid]["message"] == "new text"
    assert core.grunt("message", jid, " ", cwd=core_proj).rc == 2
    assert core.grunt("message", jid, cwd=core_proj).ok().out == "new text\n"   # the current one


def test_update_of_two_jobs_and_a_file_they_lack(core, core_proj):
    a, b = core.submit(cwd=core_proj), core.submit(cwd=core_proj)
    core.grund()
    r = core.grunt("update", "1", "2", cwd=core_proj).ok()
    assert r.out.startswith(f"asked grund on {SERVER} to copy results of 2 job(s)") and r.err == ""
    assert {core.read(os.path.join(core.cjob(j), "grcmd.update")).count("UTC") for j in (a, b)} == {1}
    r = core.grunt("update", "2", "out", "nosuch.csv", cwd=core_proj).ok()
    assert r.err == (f"grunt: warning: {b} has no nosuch.csv (as its job.list says); grund copies "
                     "what is there when it runs the update\n")
    assert core.read(os.path.join(core.cjob(b), "grcmd.update")) == "out\nnosuch.csv\n"


def test_archive_delete_nuke(core, core_proj):
    a, d, n = (core.submit(m=m, cwd=core_proj) for m in ("a", "d", "n"))
    core.grund()
    for jid in (a, d, n):
        assert tracked(core.bare("p", "results"), f"active/{jid}") == [f"active/{jid}/p/out/result.txt"]
    assert core.grunt("archive", a, cwd=core_proj).ok().out == f"asked grund on {SERVER} to archive {a}\n"
    core.grunt("delete", d, cwd=core_proj).ok()
    core.grunt("nuke", n, cwd=core_proj).ok()
    core.grund()
    for kind in ("jobs", "results"):
        bare = core.bare("p", kind)
        assert tracked(bare, "active") == ["active/.keep"]
        assert any(p.startswith(f"archive/{a}/p/") for p in tracked(bare, "archive"))
        assert any(p.startswith(f"delete/{d}/p/") for p in tracked(bare, "delete"))
        assert not any(n in p for p in tracked(bare, "."))
    assert f"archive/{a}/p/run.sh" in tracked(core.bare("p"), "archive")
    assert f"archive/{a}/p/job.end" in tracked(core.bare("p"), "archive")
    # the job's outputs moved along on the server but stay out of the jobs repo
    assert f"archive/{a}/p/out/result.txt" not in tracked(core.bare("p"), "archive")
    assert core.read(os.path.join(core.sjob(a, folder="archive"), "out", "result.txt")) == \
        "result of \n"
    assert not os.path.exists(os.path.join(core.swc("p"), "active", a))
    assert not os.path.exists(os.path.join(core.swc("p"), "active", n))
    assert not os.path.exists(os.path.join(core.swc("p", "results"), "active", n))
    r = core.grunt("pull", cwd=core_proj).ok()   # the two jobs with results are linked
    assert r.out == f"pulled p from {SERVER}: 2 job(s), 2 link(s) updated\n"
    assert sorted(os.listdir(os.path.join(core_proj, "gresults"))) == sorted([a, d])
    j = core.jobs("all", cwd=core_proj)
    assert {k: v["folder"] for k, v in j.items()} == {a: "archive", d: "delete"}
    assert "archive: moved from active/ to archive/" in core.read(
        os.path.join(core.cjob(a, folder="archive"), "job.log"))
    r = core.grunt("out", n, cwd=core_proj)
    assert r.rc == 1 and "no such job" in r.err


def test_archive_refuses_an_unfinished_job(core, async_proj):
    jid = core.submit(cwd=async_proj)
    core.grund()
    head = git("rev-parse", "main", cwd=core.bare("p"))
    r = core.grunt("archive", jid, cwd=async_proj)
    assert (r.rc, r.out) == (1, "")
    assert r.err == (f"grunt: error: {jid} is Pending: archive takes finished jobs "
                     f"(cancel it first: grunt cancel {jid})\n")
    assert git("rev-parse", "main", cwd=core.bare("p")) == head


def test_delete_cancels_a_running_job(core, async_proj):
    jid = core.submit(cwd=async_proj)
    core.grund()
    core.grunt("delete", jid, cwd=async_proj).ok()
    core.grund()
    assert core.calls() == [f"submit {jid}", f"cancel {jid}"]
    j = core.jobs("delete", cwd=async_proj)[jid]
    assert j["status"] == "Canceled"


def test_range_command(core, core_proj):
    ids = [core.submit(str(i), cwd=core_proj) for i in range(4)]
    core.grund()
    r = core.grunt("archive", f"{ids[0]}..{ids[2][-2:]}", cwd=core_proj).ok()
    assert r.out == f"asked grund on {SERVER} to archive {' '.join(ids[:3])}\n"
    core.grund()
    assert sorted(core.jobs("archive", cwd=core_proj)) == ids[:3]
    assert sorted(core.jobs(cwd=core_proj)) == ids[3:]


def test_ids_are_not_reused_after_nuke(core, core_proj):
    a = core.submit(cwd=core_proj)
    b = core.submit(cwd=core_proj)
    core.grund()
    core.grunt("nuke", b, cwd=core_proj).ok()
    core.grund()
    assert sorted(core.jobs("all", cwd=core_proj)) == [a]
    assert core.submit(cwd=core_proj) == "ali000003"


def test_archive_keeps_outputs_beside_tracked_files(core):
    run_sh = "echo made > out/made.txt\nmkdir -p out/sub\necho s > out/sub/s.txt\n"
    top = core.project("p", run_sh=run_sh, files={"out/keep.txt": "kept\n"})
    core.newproj("p")
    jid = core.submit(cwd=top)
    core.grund()
    core.grunt("archive", jid, cwd=top).ok()
    core.grund()
    job = core.sjob(jid, folder="archive")
    got = sorted(os.path.relpath(os.path.join(d, f), job)
                 for d, _, fs in os.walk(job) for f in fs if not f.startswith(("job.", "grcmd.")))
    assert got == ["grunter.py", "out/keep.txt", "out/made.txt", "out/sub/s.txt", "run.sh"]
    assert not os.path.exists(os.path.join(core.swc("p"), "active", jid))
    assert tracked(core.bare("p"), f"archive/{jid}/p/out") == [f"archive/{jid}/p/out/keep.txt"]


def test_queue_runs_grunter_queue_on_the_server(core, core_proj):
    r = core.grunt("queue", cwd=core_proj)
    assert (r.rc, r.out) == (1, "")
    assert r.err == ("grunt: error: queue runs the project's grunter.py on the server: "
                     "submit a job first\n")
    assert core.grunt("queue", "x", cwd=core_proj).rc == 2
    jid = core.submit(cwd=core_proj)
    core.grund()
    r = core.grunt("queue", cwd=core_proj)
    # the test grunter knows no queue command: its own message comes back
    assert r.rc == 1
    assert r.err == f"grunt: error: queue failed on {core.server}: grunter: unknown command queue\n"
    calls = core.read(os.path.join(core.srv, "grunter.calls")).splitlines()
    assert calls[-1] == f"queue {jid}"


def test_undelete(core, core_proj):
    keep, gone, live = (core.submit(m=m, cwd=core_proj) for m in ("keep", "gone", "live"))
    core.grund()
    core.grunt("link", keep, cwd=core_proj).ok()
    core.grunt("delete", keep, gone, cwd=core_proj).ok()
    core.grund()
    core.grunt("nuke", gone, cwd=core_proj).ok()
    core.grund()
    core.grunt("pull", cwd=core_proj).ok()
    assert "/delete/" in os.readlink(os.path.join(core_proj, "gresults", keep))
    assert core.grunt("undelete", keep, cwd=core_proj).ok().out == \
        f"asked grund on {SERVER} to undelete {keep}\n"
    core.grund()
    j = core.jobs("all", cwd=core_proj)
    assert j[keep]["folder"] == "active" and j[keep]["status"] == "Done"
    for kind in ("jobs", "results"):
        assert not os.path.exists(os.path.join(core.swc("p", kind), "delete", keep))
    assert core.read(os.path.join(core.sjob(keep, kind="results"), "out", "result.txt")) == "result of \n"
    assert core.read(os.path.join(core.sjob(keep), "out", "result.txt")) == "result of \n"
    assert "undelete: moved from delete/ to active/" in core.read(os.path.join(core.cjob(keep), "job.log"))
    r = core.grunt("pull", cwd=core_proj).ok()
    assert "1 link(s) updated" in r.out
    assert core.read(os.path.join(core_proj, "gresults", keep, "out", "result.txt")) == "result of \n"

    assert fails(core, core_proj, "undelete", gone) == \
        f"{gone} was nuked: it is gone for good and cannot be undeleted"
    assert fails(core, core_proj, "undelete", "99") == "no such job in p on blanca: ali000099 was never used"
    assert fails(core, core_proj, "undelete", live) == f"{live} is not deleted (it is in active/)"
    assert fails(core, core_proj, "undelete", rc=2).startswith("which job?")


def test_a_command_repeated_within_its_second_beside_new_ones_is_not_lost(core, core_proj):
    a, b = core.submit(cwd=core_proj), core.submit(cwd=core_proj)
    core.grund()
    core.grunt("status", a, cwd=core_proj).ok()
    # a's grcmd.status gets the same timestamp again (the same second), b's is new
    core.grunt("status", a, b, cwd=core_proj).ok()
    core.grund()
    calls = core.calls()
    assert calls.count(f"status {a}") == 2 and calls.count(f"status {b}") == 1


def test_wait_blocks_until_the_jobs_end_and_fails_for_a_failed_one(core):
    proj = core.project("p", grunter="async", run_sh="exit $1\n")
    core.newproj("p")
    core.start(GRUND, "--interval", "0.2")
    core.mp.setenv("GRUNT_WAIT_POLL", "0.1")
    good, bad = core.submit("0", m="ok", cwd=proj), core.submit("3", m="fails", cwd=proj)
    released = []

    def release():
        for jid in (good, bad):
            wait_for(lambda: os.path.exists(os.path.join(core.sjob(jid), "job.pid")), what="submit")
        time.sleep(0.5)
        released.append(time.monotonic())
        for jid in (good, bad):
            open(os.path.join(core.sjob(jid), "go"), "w").close()
    t = threading.Thread(target=release)
    t.start()
    r = core.grunt("wait", good, cwd=proj)
    t.join()
    assert r.rc == 0 and released, r.err
    assert r.out.splitlines()[1].startswith(good) and " Done " in r.out
    r = core.grunt("wait", f"{good}..{bad[3:]}", cwd=proj)
    assert r.rc == 1 and " Failed (3) " in r.out


def test_out_f_and_wait_refuse_bad_input(core, core_proj):
    r = core.grunt("out", "-f", "1", "2", cwd=core_proj)
    assert (r.rc, r.out, r.err) == (2, "", "grunt: error: out -f follows one job: grunt out -f <jobid>\n")
    core.mp.setenv("GRUNT_WAIT_POLL", "soon")
    r = core.grunt("wait", "1", cwd=core_proj)
    assert (r.rc, r.err) == (2, "grunt: error: GRUNT_WAIT_POLL must be a number of seconds\n")
    core.mp.delenv("GRUNT_WAIT_POLL")
    assert core.grunt("wait", cwd=core_proj).ok().out == "no unfinished jobs\n"
