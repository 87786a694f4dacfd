"""out, ls, diff, pull, link: what jobs made, against a server run by grund --once."""
from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from fixture_core import SERVER, TS, git, rows


RESULTS_SH = 'echo made > made.txt\nmkdir -p deep\necho d > deep/d.txt\n'


pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _done_job(core, proj: str, *args: str, m: str = "a message") -> str:
    jid = core.submit(*args, m=m, cwd=proj)
    core.grund()
    return jid


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
    # nothing new: the heartbeat names the results tip the copy has, so they are not fetched
    fetched = os.path.join(core.cwc("p", kind="results"), ".git", "FETCH_HEAD")
    os.utime(fetched, (0, 0))
    core.grunt("pull", cwd=top).ok()
    assert os.stat(fetched).st_mtime == 0


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


def test_json_of_ls_and_status(core, core_proj):
    jid = _done_job(core, core_proj, "x")
    files = json.loads(core.grunt("ls", "--json", jid, cwd=core_proj).ok().out)
    assert [sorted(f) for f in files] == [["files", "folder", "id"]]
    assert files[0]["id"] == jid and files[0]["folder"] == "active"
    names = {f["file"]: f for f in files[0]["files"]}
    assert names["run.sh"]["size"] == os.path.getsize(os.path.join(core_proj, "run.sh"))
    assert sorted(names["run.sh"]) == ["file", "modified", "size"]
    jid2 = core.submit(m="pending", cwd=core_proj)
    st = json.loads(core.grunt("status", "--json", cwd=core_proj).ok().out)
    assert [(j["id"], j["status"]) for j in st] == [(jid2, "Pending")]
    assert sorted(st[0]) == sorted(["id", "server", "folder", "status", "sched_id", "submit",
                                    "start", "end", "args", "message", "exit_code"])
    assert core.grunt("status", "--json", jid, cwd=core_proj).ok().out.startswith("[")


def test_output_of_an_original_style_array_grunter(core):
    """What the original grunt's array sample leaves: every output file is shown, all
    scheduler ids, and job.queue for queue."""
    top = core.project("p", grunter="oldarray")
    core.newproj("p")
    jid = _done_job(core, top)
    assert core.grunt("out", jid, cwd=top).ok().out == (
        "--- job.3.setup.out ---\nsetting up\n"
        "--- job.4_0.out ---\ntask 0 ran\n--- job.4_1.err ---\ntask 1 warned\n"
        "--- job.4_1.out ---\ntask 1 ran\n--- job.4_10.out ---\ntask 10 ran\n"
        "--- job.5.cleanup.out ---\ncleaned up\n")
    assert core.jobs(cwd=top)[jid]["sched_id"] == "3,4,5"
    assert "scheduler id  3,4,5\n" in core.grunt("show", jid, cwd=top).ok().out
    assert core.grunt("queue", cwd=top).ok().out == "queue at: now\nsqueue -u me\n  4_2 RUNNING\n"
    r = core.grunt("out", "-f", jid, cwd=top).ok()
    assert r.out.startswith("==> job.3.setup.out <==\nsetting up\n")
    assert r.out.endswith(f"cleaned up\n({jid} ended Done, exit 0)\n")


def test_out_follow_of_a_failed_submission(core, fail_proj):
    jid = core.submit(cwd=fail_proj)
    core.grund()
    r = core.grunt("out", "-f", jid, cwd=fail_proj)
    assert (r.rc, r.err) == (1, "")
    assert r.out == ("grunter.py submit failed (exit 3): sbatch: error: Batch job submission "
                     f"failed: Invalid partition name specified\n({jid} ended Failed)\n")


def test_links_stay_true(core, core_proj):
    """pull links every job with results; nuke and delete leave no dangling link;
    update links only jobs that have results; none of it shows in git status."""
    done = _done_job(core, core_proj, "x")
    r = core.grunt("pull", cwd=core_proj).ok()
    assert r.out == f"pulled p from {SERVER}: 1 job(s), 1 link(s) updated\n"
    link = os.path.join(core_proj, "gresults", done)
    assert core.read(os.path.join(link, "out", "result.txt")) == "result of x\n"
    assert git("status", "--porcelain", cwd=core_proj) == ""
    core.grunt("server", SERVER, cwd=core_proj).ok()   # grunt.server: kept out too
    assert git("status", "--porcelain", cwd=core_proj) == ""

    waiting = core.submit(m="no results yet", cwd=core_proj)   # grund has not run it
    core.grunt("update", waiting, cwd=core_proj).ok()
    assert not os.path.lexists(os.path.join(core_proj, "gresults", waiting))

    core.grunt("nuke", done, cwd=core_proj).ok()
    assert not os.path.lexists(link)
    core.grund()
    core.grunt("pull", cwd=core_proj).ok()
    assert sorted(os.listdir(os.path.join(core_proj, "gresults"))) == [waiting]

    core.grunt("delete", waiting, cwd=core_proj).ok()
    assert not os.path.lexists(os.path.join(core_proj, "gresults", waiting))
    core.grund()
    core.grunt("pull", cwd=core_proj).ok()   # its results are linked where they went
    assert "/delete/" in os.readlink(os.path.join(core_proj, "gresults", waiting))
    # a link whose job went away behind grunt's back is removed by the next pull
    os.symlink(core.cjob("ali000099", kind="results"), os.path.join(core_proj, "gresults", "ali000099"))
    core.grunt("pull", cwd=core_proj).ok()
    assert os.listdir(os.path.join(core_proj, "gresults")) == [waiting]
