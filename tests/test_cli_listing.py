"""jobs, show, log: what grunt lists and shows of jobs, and the run record (provenance)."""
import json
import os
import re
import subprocess

from fixture_core import SERVER, TS, fails, git, rows, show, wait_for


JSON_KEYS = {"id", "server", "folder", "status", "sched_id", "submit", "start", "end", "args",
             "message", "exit_code"}


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
    assert body[0][6:] == ["--lr 0.1", "first\u2026"]   # a message of more lines: marked
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


def test_provenance_show_and_diff_source(core):
    top = core.project("p", files={"model.py": "lr = 1\n"})
    git("remote", "add", "origin", "https://me:secret@example.org/lab/p.git", cwd=top)
    git("checkout", "-q", "-b", "feature", cwd=top)
    core.newproj("p")
    head = git("rev-parse", "HEAD", cwd=top).strip()
    clean = core.submit("--lr", "1", m="clean\nsecond line", cwd=top)
    core.write(os.path.join(top, "model.py"), "lr = 2\n")        # tracked, changed, shipped
    core.write(os.path.join(top, "notes.txt"), "not shipped\n")  # untracked
    dirty = core.submit(m="dirty", cwd=top)
    core.grund()

    job = core.cjob(dirty)
    assert core.read(os.path.join(job, "job.source")) == (
        f"commit {head}\nbranch feature\nremote https://me@example.org/lab/p.git\n")
    assert core.read(os.path.join(job, "job.dirty")) == "dirty\n"
    assert core.read(os.path.join(job, "job.untracked")) == "notes.txt\n"
    patch = core.read(os.path.join(job, "job.patch"))
    assert "-lr = 1\n+lr = 2\n" in patch and "notes.txt" not in patch
    # the patch is exactly what the snapshot holds beyond the commit
    scratch = os.path.join(core.tmp, "scratch")
    subprocess.run(["git", "clone", "-q", top, scratch], check=True)
    git("checkout", "-q", head, cwd=scratch)
    subprocess.run(["git", "apply", os.path.join(job, "job.patch")], cwd=scratch, check=True)
    assert core.read(os.path.join(scratch, "model.py")) == core.read(os.path.join(core.sjob(dirty), "model.py"))
    assert core.read(os.path.join(core.cjob(clean), "job.dirty")) == "clean\n"
    assert core.read(os.path.join(core.cjob(clean), "job.patch")) == ""
    assert core.read(os.path.join(core.cjob(clean), "job.untracked")) == ""

    s = show(core, dirty, top)
    assert s["job"] == f"{dirty} (active)" and s["message"] == "dirty"
    assert (s["args"], s["state"], s["server"]) == ("(none)", "Done (exit 0)", SERVER)
    assert all(re.fullmatch(TS + " UTC", s[k]) for k in ("submit", "start", "end"))
    assert s["scheduler id"] == "-"   # the sync test grunter records none
    assert s["source"] == f"{head} on feature"
    assert s["remote"] == "https://me@example.org/lab/p.git"
    assert s["dirty"] == "yes, job.patch changes 1 file(s): model.py"
    assert s["not shipped"] == "notes.txt (untracked)"
    s = show(core, clean, top)
    assert (s["args"], s["dirty"], s["not shipped"]) == ("--lr 1", "no", "(nothing)")
    assert "second line" in core.grunt("show", clean, cwd=top).out

    # --source: the job against its commit, not against today's checkout
    core.write(os.path.join(top, "model.py"), "lr = 3\n")
    d = core.grunt("diff", dirty, "--source", cwd=top).ok().out
    assert "-lr = 1\n+lr = 2\n" in d and "job." not in d and "grcmd" not in d
    assert core.grunt("diff", clean, "--source", cwd=top).ok().out == ""
    assert "+lr = 3" in core.grunt("diff", dirty, cwd=top).ok().out


def test_no_commit_yet(core):
    top = core.project("p")
    core.newproj("p")
    bare = os.path.join(core.work, "fresh")
    os.makedirs(bare)
    git("init", "-q", cwd=bare)
    core.write(os.path.join(bare, "grunt.projname"), "p\n")
    core.write(os.path.join(bare, "grunter.py"), core.read(os.path.join(top, "grunter.py")))
    git("add", "grunter.py", cwd=bare)
    jid = core.submit(m="no commit", cwd=bare)
    assert core.read(os.path.join(core.cjob(jid), "job.source")) == "not a commit\n"
    assert show(core, jid, bare)["source"] == "not a commit"
    assert fails(core, bare, "diff", jid, "--source") == \
        f"{jid} was not submitted from a commit (job.source: not a commit)"
    assert fails(core, top, "diff", jid, "2", "--source", rc=2).startswith("diff --source takes one job")


def test_log_lists_the_key_commands(core, core_proj):
    jid = core.submit(m="logged", cwd=core_proj)
    core.grund()
    core.grunt("update", jid, cwd=core_proj).ok()
    core.grund()
    core.grunt("delete", jid, cwd=core_proj).ok()
    core.grund()
    core.grunt("undelete", jid, cwd=core_proj).ok()
    core.grund()
    core.grunt("archive", jid, cwd=core_proj).ok()
    core.grund()
    core.grunt("nuke", jid, cwd=core_proj).ok()
    core.grund()
    out = core.grunt("log", jid, cwd=core_proj).ok().out.splitlines()
    assert out[0].split() == ["TIME", "COMMIT", "REPO", "BY", "WHAT"]
    rows = [re.split(r"\s{2,}", ln) for ln in out[1:]]
    assert all(re.fullmatch(TS + " UTC", r[0]) and re.fullmatch(r"[0-9a-f]{7,}", r[1]) for r in rows)
    what = [(r[2], r[3], r[4]) for r in rows]
    for step in (f"submit {jid}: logged", f"update {jid}", f"delete {jid}", f"undelete {jid}",
                 f"archive {jid}", f"nuke {jid}"):
        assert ("jobs", "Test User", step) in what, (step, what)   # the client's command
    for step in (f"update {jid}", f"delete {jid}", f"undelete {jid}", f"archive {jid}", f"nuke {jid}"):
        assert ("jobs", "grund", step) in what, step                  # grund's answer
    for step in (f"results {jid}", f"delete {jid}", f"undelete {jid}", f"archive {jid}", f"nuke {jid}"):
        assert ("results", "grund", step) in what, step               # and its results
    # oldest first, and each one really is a commit of the repo it names
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    subj = git("log", "-1", "--format=%s", rows[-1][1], cwd=core.cwc("p", rows[-1][2]))
    assert subj.strip() == rows[-1][4]
    assert fails(core, core_proj, "log", "77") == "no such job in p on blanca: ali000077 was never used"


def test_show_of_a_failed_job_gives_its_error_and_last_output(core, fail_proj):
    jid = core.submit(cwd=fail_proj)
    core.grund()
    out = core.grunt("show", jid, cwd=fail_proj).ok().out
    assert ("\nerror         grunter.py submit failed (exit 3): sbatch: error: Batch job "
            "submission failed: Invalid partition name specified\n") in out


def test_show_of_a_job_that_failed_gives_the_last_lines_it_printed(core):
    top = core.project("p", run_sh="for i in 1 2 3 4 5 6 7; do echo line $i; done\nexit 3\n")
    core.newproj("p")
    jid = core.submit(cwd=top)
    core.grund()
    out = core.grunt("show", jid, cwd=top).ok().out
    assert "\nstate         Failed (exit 3)\n" in out
    assert ("\noutput        line 3\n              line 4\n              line 5\n"
            "              line 6\n              line 7\n") in out
    core.write(os.path.join(top, "run.sh"), "echo fine\n")
    done = core.submit(cwd=top)   # a job that ended well shows neither
    core.grund()
    out = core.grunt("show", done, cwd=top).ok().out
    assert "\nstate         Done (exit 0)\n" in out and "\noutput " not in out


def test_jobs_newest_n_and_folders_of_all(core, core_proj):
    a, b, c = (core.submit(m=m, cwd=core_proj) for m in ("a", "b", "c"))
    core.grund()
    core.grunt("archive", a, cwd=core_proj).ok()
    core.grund()
    assert [r[0] for r in rows(core.grunt("jobs", "-n", "1", cwd=core_proj).ok().out)[1:]] == [c]
    assert [r[0] for r in rows(core.grunt("jobs", "all", "-n", "2", cwd=core_proj).ok().out)[1:]] == [b, c]
    head, *body = rows(core.grunt("jobs", "all", cwd=core_proj).ok().out)
    assert head[:3] == ["ID", "FOLDER", "SERVER"]
    assert [r[:2] for r in body] == [[a, "archive"], [b, "active"], [c, "active"]]
    assert "FOLDER" not in core.grunt("jobs", cwd=core_proj).ok().out
    for bad in ("0", "x"):
        assert core.grunt("jobs", "-n", bad, cwd=core_proj).rc == 2


def test_jobs_at_80_columns_keeps_the_message(core, core_proj):
    core.submit("--alpha", "1", "--beta", "2", "--gamma", "3", m="the message to keep", cwd=core_proj)
    core.grund()
    core.mp.setenv("COLUMNS", "80")
    out = core.grunt("jobs", cwd=core_proj).ok().out
    head, body = out.splitlines()
    assert max(len(head), len(body)) <= 80, out
    assert head.split() == ["ID", "SCHED_ID", "STATUS", "SUBMIT", "TIME", "ARGS", "MESSAGE"]
    cells = rows(out)[1]   # no scheduler id (the sync grunter)
    assert cells[1] == "Done" and re.fullmatch(r"\d+s", cells[3]), out
    assert cells[-1].startswith("the message to"), out


def test_log_keeps_commits_of_one_second_in_their_order(core, tmp_path):
    """A request and grund's answer in the same second: the request comes first."""
    from lib.client.commits import commits
    repo = str(tmp_path / "r")
    os.makedirs(os.path.join(repo, "active", "ali000001", "p"))
    git("init", "-q", cwd=repo)
    env = dict(os.environ, GIT_AUTHOR_DATE="2026-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    for subject in ("submit ali000001", "grund: submit ali000001", "update ali000001",
                    "grund: update ali000001"):
        with open(os.path.join(repo, "active", "ali000001", "p", "f"), "a") as f:
            f.write(subject + "\n")
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
        subprocess.run(["git", "commit", "-q", "-m", subject], cwd=repo, check=True, env=env)
    assert [c[4] for c in commits(repo, "ali000001")] == [
        "submit ali000001", "grund: submit ali000001", "update ali000001", "grund: update ali000001"]
