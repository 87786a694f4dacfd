"""The client commands against a server run by grund --once."""
import json
import os
import re

import pytest

from fixture_core import SERVER, git, wait_for

JSON_KEYS = {"id", "server", "folder", "status", "sched_id", "submit", "start", "end", "args",
             "message", "exit_code"}
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


def test_jobs_table(core, core_proj):
    assert core.grunt("jobs", cwd=core_proj).ok().out == "no jobs\n"
    ok = core.submit("--lr", "0.1", m="first\nmore", cwd=core_proj)
    core.write(os.path.join(core_proj, "run.sh"), "exit 3\n")
    bad = core.submit(m="second", cwd=core_proj)
    core.grund()
    core.write(os.path.join(core_proj, "run.sh"), "echo\n")
    pending = core.submit(m="third", cwd=core_proj)
    out = core.grunt("jobs", cwd=core_proj).ok().out
    head, *body = rows(out)
    assert head == ["ID", "SERVER", "SCHED_ID", "STATUS", "SUBMIT", "START", "END", "ARGS", "MESSAGE"]
    assert [r[0] for r in body] == [ok, bad, pending]
    j = core.jobs(cwd=core_proj)
    # ok: no scheduler id (the sync grunter writes neither job.slurmid nor job.pid)
    assert body[0][1:3] == [SERVER, "Done"]
    assert body[0][3:6] == [j[ok][k].replace(" UTC", "") for k in ("submit", "start", "end")]
    assert body[0][6:] == ["--lr 0.1", "first"]
    assert re.fullmatch(TS, body[0][3])
    assert body[1][2] == "Failed (3)" and body[1][-1] == "second"
    assert body[2][:3] == [pending, SERVER, "Pending"] and body[2][-1] == "third"
    assert len(body[2]) == 5  # no start, end or args


def test_jobs_json(core, core_proj):
    jid = core.submit("a b", "c", m="msg", cwd=core_proj)
    core.write(os.path.join(core_proj, "run.sh"), "exit 5\n")
    bad = core.submit(m="bad", cwd=core_proj)
    core.write(os.path.join(core_proj, "run.sh"), "echo\n")
    pending = core.submit(cwd=core_proj)
    r = core.grunt("jobs", "--json", cwd=core_proj).ok()
    listed = json.loads(r.out)
    assert isinstance(listed, list) and [set(j) for j in listed] == [JSON_KEYS] * 3
    core.grund()
    core.submit(cwd=core_proj)
    listed = json.loads(core.grunt("jobs", "all", "--json", cwd=core_proj).ok().out)
    assert [set(j) for j in listed] == [JSON_KEYS] * 4
    j = {x["id"]: x for x in listed}
    assert j[jid]["args"] == ["a b", "c"] and j[jid]["exit_code"] == 0
    assert (j[jid]["status"], j[jid]["folder"], j[jid]["server"], j[jid]["message"]) == \
        ("Done", "active", SERVER, "msg")
    assert all(re.fullmatch(TS + " UTC", j[jid][k]) for k in ("submit", "start", "end"))
    assert (j[bad]["status"], j[bad]["exit_code"]) == ("Failed", 5)
    assert j[pending]["status"] == "Done" and j[pending]["args"] == []
    assert json.loads(core.grunt("jobs", "delete", "--json", cwd=core_proj).ok().out) == []


def test_jobs_filters(core, async_proj):
    done = core.submit(m="done", cwd=async_proj)
    arch = core.submit(m="arch", cwd=async_proj)
    gone = core.submit(m="gone", cwd=async_proj)
    running = core.submit(m="running", cwd=async_proj)
    core.grund()
    for jid in (done, arch, gone):
        core.write(os.path.join(core.sjob(jid), "go"), "")
    for jid in (done, arch, gone):
        wait_for(lambda: os.path.exists(os.path.join(core.sjob(jid), "job.end")), what="job.end")
    core.grund()
    core.grunt("archive", arch, cwd=async_proj).ok()
    core.grunt("delete", gone, cwd=async_proj).ok()
    core.grund()

    def ids(which):
        return sorted(core.jobs(which, cwd=async_proj))
    assert ids("active") == sorted([done, running]) == sorted(core.jobs(cwd=async_proj))
    assert ids("done") == [done]
    assert ids("archive") == [arch]
    assert ids("delete") == [gone]
    assert ids("all") == sorted([done, arch, gone, running])
    folders = {j["id"]: j["folder"] for j in core.jobs("all", cwd=async_proj).values()}
    assert folders == {done: "active", arch: "archive", gone: "delete", running: "active"}


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


RESULTS_SH = 'echo made > made.txt\nmkdir -p deep\necho d > deep/d.txt\n'


def test_update_and_pull(core):
    top = core.project("p", run_sh=RESULTS_SH,
                       files={"results.lst": "made.txt\nlate.txt\n", "notes/b.txt": "b\n"})
    core.newproj("p")
    jid = core.submit(cwd=top)
    core.grund()  # the job ended during submit: its results were copied
    res = core.sjob(jid, kind="results")
    assert sorted(os.listdir(res)) == ["made.txt"]
    core.write(os.path.join(core.sjob(jid), "late.txt"), "late\n")  # written after the end
    r = core.grunt("update", cwd=top).ok()
    assert r.out == (f"asked grund on {SERVER} to copy results of 1 job(s); "
                     "grunt pull fetches them into gresults/\n")
    link = os.path.join(top, "gresults", jid)
    assert os.readlink(link) == core.cjob(jid, kind="results")
    core.grund()
    assert sorted(os.listdir(res)) == ["late.txt", "made.txt"]
    assert not os.path.exists(os.path.join(link, "late.txt"))
    r = core.grunt("pull", cwd=top).ok()
    assert r.out == f"pulled p from {SERVER}: 1 job(s)\n"
    assert core.read(os.path.join(link, "late.txt")) == "late\n"
    # named files and folders, with the alias
    core.grunt("results", jid, "notes/b.txt", "deep", cwd=top).ok()
    assert core.read(os.path.join(core.cjob(jid), "grcmd.update")) == "notes/b.txt\ndeep\n"
    core.grund()
    core.grunt("pull", cwd=top).ok()
    assert core.read(os.path.join(link, "notes", "b.txt")) == "b\n"
    assert core.read(os.path.join(link, "deep", "d.txt")) == "d\n"
    assert not os.path.exists(os.path.join(link, "job.log"))


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


def test_out(core, core_proj):
    a = core.submit("one", cwd=core_proj)
    b = core.submit("two", cwd=core_proj)
    assert core.grunt("out", a, cwd=core_proj).ok().out == f"(no output yet: {a} is Pending)\n"
    core.grund()
    assert core.grunt("out", a, cwd=core_proj).ok().out == "args: one\n"
    r = core.grunt("out", a, b, cwd=core_proj).ok()
    assert r.out == f"==> {a} <==\nargs: one\n==> {b} <==\nargs: two\n"
    assert core.grunt("out", f"{a}..2", cwd=core_proj).ok().out == r.out
    assert core.grunt("out", "1,2", cwd=core_proj).ok().out == r.out
    r = core.grunt("out", "9", cwd=core_proj)
    assert (r.rc, r.out) == (1, "")
    assert r.err == f"grunt: error: no such job in p on {SERVER}: ali000009\n"
    r = core.grunt("out", cwd=core_proj)
    assert r.rc == 2 and "which job?" in r.err


def test_out_of_a_failed_submission(core, fail_proj):
    jid = core.submit(cwd=fail_proj)
    core.grund()
    r = core.grunt("out", jid, cwd=fail_proj).ok()
    assert r.out == ("grunter.py submit failed (exit 3): sbatch: error: Batch job submission "
                     "failed: Invalid partition name specified\n")
    j = core.jobs(cwd=fail_proj)[jid]
    assert (j["status"], j["exit_code"]) == ("Failed", None)
    assert "grunter.py submit: exit 3" in core.read(os.path.join(core.cjob(jid), "job.log"))


def test_ls(core):
    top = core.project("p", run_sh="mkdir -p out\nprintf 12345 > out/r.bin\n")
    core.newproj("p")
    jid = core.submit(cwd=top)
    r = core.grunt("ls", jid, cwd=top).ok()
    assert r.out == "(no job.list yet: grund writes it after the job's first command)\n"
    core.grund()
    head, *body = rows(core.grunt("ls", jid, cwd=top).ok().out)
    assert head == ["FILE", "SIZE", "MODIFIED"]
    files = {r[0]: r[1:] for r in body}
    assert sorted(files) == ["grunter.py", "out/r.bin", "run.sh"]
    assert files["out/r.bin"][0] == "5" and re.fullmatch(TS + " UTC", files["out/r.bin"][1])
    second = core.submit(cwd=top)
    core.grund()
    out = core.grunt("ls", jid, second, cwd=top).ok().out
    assert out.startswith(f"==> {jid} <==\nFILE") and f"\n==> {second} <==\nFILE" in out


def test_diff(core, core_proj):
    a = core.submit(cwd=core_proj)
    core.write(os.path.join(core_proj, "run.sh"), "echo changed\n")
    core.write(os.path.join(core_proj, "new.py"), "x = 1\n")
    git("add", "new.py", cwd=core_proj)
    r = core.grunt("diff", a, cwd=core_proj).ok()
    assert "-echo \"args: $*\"" in r.out and "+echo changed" in r.out
    assert "diff --git" in r.out and "+x = 1" in r.out
    assert "job." not in r.out and "grcmd." not in r.out
    b = core.submit(cwd=core_proj)
    core.grund()  # both get job.* files that differ
    r = core.grunt("diff", a, b, cwd=core_proj).ok()
    assert "+echo changed" in r.out and "+x = 1" in r.out and "job." not in r.out
    assert core.grunt("diff", b, cwd=core_proj).ok().out == ""
    r = core.grunt("diff", f"{a}..2", cwd=core_proj)
    assert r.rc == 2 and "diff takes single job ids" in r.err


def test_link_unlink(core, core_proj):
    jid = core.submit(cwd=core_proj)
    r = core.grunt("link", jid, cwd=core_proj).ok()
    target = core.cjob(jid, kind="results")
    assert r.out == f"gresults/{jid} -> {target}\n"
    link = os.path.join(core_proj, "gresults", jid)
    assert os.readlink(link) == target
    core.grunt("link", jid, cwd=core_proj).ok()
    assert core.grunt("unlink", jid, cwd=core_proj).ok().out == f"removed gresults/{jid}\n"
    assert not os.path.lexists(link)
    assert core.grunt("unlink", jid, cwd=core_proj).ok().out == ""
    assert core.grunt("unlink", cwd=core_proj).rc == 2
    os.makedirs(link)
    r = core.grunt("link", jid, cwd=core_proj)
    assert r.rc == 1 and r.err == f"grunt: error: {link} exists and is not a link; move it away first\n"
    # gresults/ is not shipped and not warned about
    r = core.grunt("submit", "-m", "m", cwd=core_proj).ok()
    assert r.err == ""


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
    assert core.grunt("message", jid, cwd=core_proj).rc == 2


def tracked(wc, rel):
    return git("ls-tree", "-r", "--name-only", "main", "--", rel, cwd=wc).split("\n")[:-1]


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
    r = core.grunt("pull", cwd=core_proj).ok()
    assert r.out == f"pulled p from {SERVER}: 2 job(s)\n"
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


def test_link_follows_a_moved_job_on_pull(core, core_proj):
    jid = core.submit(cwd=core_proj)
    core.grund()
    core.grunt("link", jid, cwd=core_proj).ok()
    core.grunt("archive", jid, cwd=core_proj).ok()
    core.grund()
    r = core.grunt("pull", cwd=core_proj).ok()
    assert r.out == f"pulled p from {SERVER}: 1 job(s), 1 link(s) updated\n"
    link = os.path.join(core_proj, "gresults", jid)
    assert os.readlink(link) == core.cjob(jid, folder="archive", kind="results")
    assert core.read(os.path.join(link, "out", "result.txt")) == "result of \n"


def test_range_command(core, core_proj):
    ids = [core.submit(str(i), cwd=core_proj) for i in range(4)]
    core.grund()
    r = core.grunt("archive", f"{ids[0]}..{ids[2][-2:]}", cwd=core_proj).ok()
    assert r.out == f"asked grund on {SERVER} to archive {' '.join(ids[:3])}\n"
    core.grund()
    assert sorted(core.jobs("archive", cwd=core_proj)) == ids[:3]
    assert sorted(core.jobs(cwd=core_proj)) == ids[3:]


def test_submit_from_a_subdirectory(core, core_proj):
    sub = os.path.join(core_proj, "deep", "er")
    os.makedirs(sub)
    jid = core.submit(cwd=sub)
    assert git("ls-files", f"active/{jid}/p/run.sh", cwd=core.cwc("p")).strip()
    assert core.grunt("jobs", cwd=sub).ok().out.splitlines()[1].startswith(jid)


def test_ids_are_not_reused_after_nuke(core, core_proj):
    a = core.submit(cwd=core_proj)
    b = core.submit(cwd=core_proj)
    core.grund()
    core.grunt("nuke", b, cwd=core_proj).ok()
    core.grund()
    assert sorted(core.jobs("all", cwd=core_proj)) == [a]
    assert core.submit(cwd=core_proj) == "ali000003"


def test_array_job_in_jobs_and_out(core, core_proj):
    jid = core.submit(cwd=core_proj)
    core.grund()
    job = core.sjob(jid)
    for name in ("job.start", "job.end", "job.exitcode", "job.out"):
        os.unlink(os.path.join(job, name))
    files = {"job.array": "0-2\n", "job.0.start": "2026-01-02 03:04:05 UTC\n",
             "job.0.end": "2026-01-02 03:05:05 UTC\n", "job.0.exitcode": "0\n",
             "job.0.out": "zero\n", "job.1.start": "2026-01-02 03:04:06 UTC\n",
             "job.1.out": "one\n"}
    for name, text in files.items():
        core.write(os.path.join(job, name), text)
    core.write(os.path.join(core.swc("p"), ".git", "grunt-changed"), "")
    core.grund()
    out = core.grunt("jobs", cwd=core_proj).ok().out
    body = rows(out)[1:]
    assert body[0][:3] == [jid, SERVER, "Running"]
    assert body[1] == ["_0", "Done", "2026-01-02 03:04:05", "2026-01-02 03:05:05"]
    assert body[2] == ["_1", "Running", "2026-01-02 03:04:06"]
    assert body[3] == ["_2", "Pending"]
    assert core.grunt("out", jid, cwd=core_proj).ok().out == \
        "--- task 0 ---\nzero\n--- task 1 ---\none\n"


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
