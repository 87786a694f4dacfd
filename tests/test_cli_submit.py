"""submit and resubmit: the snapshot, the job files, errors, names, concurrent clients."""
import os
import re
import subprocess

import pytest

from fixture_core import GRUNT, PREFIX, SERVER, fails, git, show, snapshot


def ls_tree(wc, rel):
    """{path: mode} of a folder in a working copy's HEAD."""
    raw = subprocess.run(["git", "ls-tree", "-r", "-z", "HEAD", "--", rel], cwd=wc, check=True,
                         capture_output=True).stdout.decode()
    out = {}
    for entry in filter(None, raw.split("\0")):
        meta, path = entry.split("\t", 1)
        out[os.path.relpath(path, rel)] = meta.split()[0]
    return out


def shown(wc, path):
    """A file's content in a working copy's HEAD (the client's copy holds no snapshots on disk)."""
    return subprocess.run(["git", "show", f"HEAD:{path}"], cwd=wc, check=True,
                          capture_output=True).stdout.decode()


def test_submit_ships_the_working_tree(core):
    names = {"a b.txt": "spaces\n", "ünïcødé.txt": "unicode\n", "new\nline.txt": "newline\n",
             "sub dir/deep.py": "print(1)\n", ".gitignore": "ignored.txt\n"}
    top = core.project("p", files=names)
    os.symlink("sub dir/deep.py", os.path.join(top, "link.py"))
    os.symlink("/nonexistent/data", os.path.join(top, "data"))
    os.chmod(os.path.join(top, "run.sh"), 0o755)
    git("add", "-A", cwd=top)
    git("commit", "-q", "-m", "more", cwd=top)
    core.newproj("p")
    core.write(os.path.join(top, "run.sh"), "echo changed after commit\n")  # not committed
    os.unlink(os.path.join(top, "a b.txt"))                               # deleted, not committed
    core.write(os.path.join(top, "notes.txt"), "untracked\n")
    core.write(os.path.join(top, "ignored.txt"), "ignored\n")
    head = git("rev-parse", "HEAD", cwd=top)
    r = core.grunt("submit", "--lr", "0.1", "two words", "-m", "first try", cwd=top).ok()
    jid = r.out.strip()
    assert re.fullmatch(PREFIX + r"\d{6}", jid) and jid == "ali000001"
    assert r.err == "grunt: warning: not shipped (untracked): notes.txt\n"
    files = ls_tree(core.cwc("p"), f"active/{jid}/p")
    assert files == {
        "grunter.py": "100644", "run.sh": "100755", "ünïcødé.txt": "100644",
        "new\nline.txt": "100644", "sub dir/deep.py": "100644", ".gitignore": "100644",
        "link.py": "120000", "data": "120000",
        "job.message": "100644", "job.submit": "100644", "job.args": "100644",
        "job.server": "100644", "grcmd.submit": "100644",
        "job.source": "100644", "job.dirty": "100644", "job.patch": "100644",
        "job.untracked": "100644"}
    job = core.cjob(jid)
    rel = f"active/{jid}/p"
    assert shown(core.cwc("p"), f"{rel}/run.sh") == "echo changed after commit\n"
    assert shown(core.cwc("p"), f"{rel}/link.py") == "sub dir/deep.py"
    assert shown(core.cwc("p"), f"{rel}/data") == "/nonexistent/data"
    assert shown(core.cwc("p"), f"{rel}/new\nline.txt") == "newline\n"
    # the laptop's copy is sparse: the job's own files on disk, the snapshot only in git
    assert sorted(os.listdir(job)) == ["grcmd.submit", "job.args", "job.dirty", "job.message",
                                       "job.patch", "job.server", "job.source", "job.submit",
                                       "job.untracked"]
    assert core.read(os.path.join(job, "job.message")) == "first try\n"
    assert core.read(os.path.join(job, "job.args")) == "--lr\n0.1\ntwo words\n"
    assert core.read(os.path.join(job, "job.server")) == SERVER + "\n"
    ts = core.read(os.path.join(job, "job.submit"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n", ts)
    assert core.read(os.path.join(job, "grcmd.submit")) == ts
    # it reached the server, and the project itself is untouched
    assert git("rev-parse", "main", cwd=core.bare("p")) == git("rev-parse", "HEAD", cwd=core.cwc("p"))
    assert git("rev-parse", "HEAD", cwd=top) == head
    assert git("status", "--porcelain", cwd=core.cwc("p")) == ""
    # the next id
    assert core.submit(cwd=top) == "ali000002"


def test_submit_ships_untracked_grunter(core):
    top = core.project("p")
    git("rm", "-q", "--cached", "grunter.py", cwd=top)
    git("commit", "-q", "-m", "grunter not tracked", cwd=top)
    core.newproj("p")
    r = core.grunt("submit", "-m", "m", cwd=top).ok()
    assert r.err == ""
    assert "grunter.py" in ls_tree(core.cwc("p"), f"active/{r.out.strip()}/p")


def test_submit_with_no_args_and_glued_message(core, core_proj):
    jid = core.grunt("submit", "-mquick", cwd=core_proj).ok().out.strip()
    assert core.read(os.path.join(core.cjob(jid), "job.args")) == ""
    assert core.read(os.path.join(core.cjob(jid), "job.message")) == "quick\n"
    core.grund()
    j = core.jobs(cwd=core_proj)[jid]
    assert (j["args"], j["message"], j["status"]) == ([], "quick", "Done")


def test_submit_prefix_file(core, core_proj):
    core.write(os.path.join(core.cli, ".grunt.prefix"), "xyz\n")
    assert core.submit(cwd=core_proj) == "xyz000001"
    core.write(os.path.join(core.cli, ".grunt.prefix"), "TOOLONG\n")
    r = core.grunt("submit", "-m", "m", cwd=core_proj)
    assert r.rc == 1 and "~/.grunt.prefix must hold three lowercase letters" in r.err


@pytest.mark.parametrize("argv, rc, msg", [
    (["a", "b"], 2, "grunt: error: a message is required: grunt submit [args...] -m 'why'\n"),
    (["-m", "why", "a"], 2, "grunt: error: -m 'message' must come last (a program argument -m "
                            "goes after --): grunt submit [args...] -m 'why'\n"),
    (["--lr", "0.1", "-m"], 2, "grunt: error: the message is missing after -m: "
                               "grunt submit [args...] -m 'why'\n"),
    (["a", "-m", "  "], 2, "grunt: error: the message is empty: grunt submit [args...] -m 'why'\n"),
    (["a\nb", "-m", "m"], 2, "grunt: error: job arguments cannot contain newlines "
                             "(job.args holds one per line)\n"),
])
def test_submit_usage_errors(core, core_proj, argv, rc, msg):
    before = git("rev-parse", "HEAD", cwd=core.cwc("p"))
    r = core.grunt("submit", *argv, cwd=core_proj)
    assert (r.rc, r.out, r.err) == (rc, "", msg)
    assert git("rev-parse", "HEAD", cwd=core.cwc("p")) == before
    assert git("status", "--porcelain", "--ignored", cwd=core.cwc("p")) == ""


def test_submit_without_grunter(core):
    top = core.project("p", grunter="")
    core.newproj("p")
    before = git("rev-parse", "HEAD", cwd=core.cwc("p"))
    r = core.grunt("submit", "-m", "m", cwd=top)
    assert r.rc == 1 and r.out == ""
    assert r.err == (f"grunt: error: no grunter.py in {top}: run grunt init to write one "
                     "from grunter_example.py (it tells grund how to run the job)\n")
    assert git("rev-parse", "HEAD", cwd=core.cwc("p")) == before
    assert git("status", "--porcelain", "--ignored", cwd=core.cwc("p")) == ""


def test_submit_outside_a_checkout(core, core_proj):
    plain = os.path.join(core.work, "plain")
    os.makedirs(plain)
    before = git("rev-parse", "HEAD", cwd=core.cwc("p"))
    r = core.grunt("submit", "-m", "m", cwd=plain)
    assert (r.rc, r.out) == (1, "")
    assert r.err == (f"grunt: error: not a git checkout: {plain} "
                     "(grunt works in a project under git)\n")
    assert git("rev-parse", "HEAD", cwd=core.cwc("p")) == before
    assert git("status", "--porcelain", "--ignored", cwd=core.cwc("p")) == ""


def test_submit_not_set_up(core):
    top = core.project("p")
    r = core.grunt("submit", "-m", "m", cwd=top)
    assert r.rc == 1
    assert r.err == (f"grunt: error: project p is not set up for server {SERVER}: "
                     "run grunt newproj p <remote>\n")


def test_submit_failing_push_leaves_nothing_behind(core, core_proj):
    before = git("rev-parse", "HEAD", cwd=core.cwc("p"))
    hook = core.write(os.path.join(core.bare("p"), "hooks", "pre-receive"), "#!/bin/sh\nexit 1\n")
    os.chmod(hook, 0o755)
    r = core.grunt("submit", "-m", "m", cwd=core_proj)
    assert r.rc == 1 and r.err == f"grunt: error: git push with {SERVER} failed (the server refused it: pre-receive hook declined)\n"
    assert r.err.count("\n") == 1
    assert git("rev-parse", "HEAD", cwd=core.cwc("p")) == before
    assert git("status", "--porcelain", "--ignored", cwd=core.cwc("p")) == ""


@pytest.mark.parametrize("namefile", ["grunt.projname", "grunt.projnm"])
def test_project_name_from_file(core, namefile):
    top = core.project("checkout-dir", files={namefile: "named\n"})
    core.newproj("named")
    jid = core.submit(cwd=top)
    assert os.path.isdir(core.cjob(jid, proj="named"))
    core.grund()
    assert core.jobs(cwd=top)[jid]["status"] == "Done"
    assert core.read(os.path.join(core.sjob(jid, proj="named"), "job.out")) == "args: \n"


def test_two_clients_submit_at_the_same_moment(core, core_proj):
    other = core.client_home("cli2")
    core.grunt("newproj", "p", core.srv, home=other).ok()
    procs = [subprocess.Popen([GRUNT, "submit", f"{home[-4:]}-{i}", "-m", f"race {i}"],
                              cwd=core_proj, env=core.env(home), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(3) for home in (core.cli, other)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outs
    ids = sorted(out.strip() for out, _ in outs)
    assert ids == [f"ali{n:06d}" for n in range(1, 7)]
    core.grund()
    jobs = core.jobs(cwd=core_proj)
    assert sorted(jobs) == ids
    assert sorted(j["args"][0] for j in jobs.values()) == sorted(
        f"{h}-{i}" for i in range(3) for h in ("/cli", "cli2"))
    assert {j["status"] for j in jobs.values()} == {"Done"}
    assert len(core.calls()) == 12  # submit and results, once each


def test_submit_whose_push_lands_but_the_connection_drops(core, core_proj):
    # the server takes the commit, then its end dies before it can say so
    hook = core.write(os.path.join(core.bare("p"), "hooks", "post-receive"),
                      "#!/bin/sh\nkill -9 $PPID\n")
    os.chmod(hook, 0o755)
    r = core.grunt("submit", "-m", "m", cwd=core_proj)
    assert (r.rc, r.err) == (0, "")
    jid = r.out.strip()
    assert git("ls-tree", "--name-only", "main", f"active/{jid}/p/grcmd.submit",
               cwd=core.bare("p")).strip() == f"active/{jid}/p/grcmd.submit"


def test_submit_from_a_subdirectory(core, core_proj):
    sub = os.path.join(core_proj, "deep", "er")
    os.makedirs(sub)
    jid = core.submit(cwd=sub)
    assert git("ls-files", f"active/{jid}/p/run.sh", cwd=core.cwc("p")).strip()
    assert core.grunt("jobs", cwd=sub).ok().out.splitlines()[1].startswith(jid)


def test_resubmit_from_the_stored_snapshot(core, core_proj):
    os.symlink("run.sh", os.path.join(core_proj, "link.sh"))
    os.chmod(os.path.join(core_proj, "run.sh"), 0o755)
    git("add", "-A", cwd=core_proj)
    git("commit", "-q", "-m", "link", cwd=core_proj)
    core.write(os.path.join(core_proj, "notes.txt"), "x\n")
    first = core.submit("a", "b c", m="first", cwd=core_proj)
    core.grund()
    # the checkout moves on; resubmit must not look at it
    core.write(os.path.join(core_proj, "run.sh"), "echo NEW CODE\n")
    second = core.grunt("resubmit", first, "-m", "again", cwd=core_proj).ok().out.strip()
    third = core.grunt("resubmit", second, "--x", "9", "-m", "other args", cwd=core_proj).ok().out.strip()
    core.grund()
    assert (second, third) == ("ali000002", "ali000003")
    j = core.jobs(cwd=core_proj)
    assert j[second]["args"] == ["a", "b c"] and j[third]["args"] == ["--x", "9"]
    assert j[second]["message"] == "again" and j[second]["status"] == "Done"
    assert core.grunt("out", second, cwd=core_proj).ok().out == "args: a b c\n"
    assert core.grunt("out", third, cwd=core_proj).ok().out == "args: --x 9\n"
    snap1, snap2 = snapshot(core, first), snapshot(core, second)
    assert snap1 == snap2 and snap2["link.sh"][0] == "120000" and snap2["run.sh"][0] == "100755"
    c2 = core.cjob(second)
    assert core.read(os.path.join(c2, "job.parent")) == first + "\n"
    assert core.read(os.path.join(core.cjob(third), "job.parent")) == second + "\n"
    for name in ("job.source", "job.dirty", "job.patch", "job.untracked"):
        assert core.read(os.path.join(c2, name)) == core.read(os.path.join(core.cjob(first), name))
    assert show(core, third, core_proj)["resubmit of"] == second
    # lineage in the table
    out = core.grunt("jobs", "--tree", cwd=core_proj).ok().out.splitlines()
    assert [ln.split(SERVER)[0].rstrip() for ln in out[1:]] == [first, f"└ {second}", f"  └ {third}"]
    # bad input: nothing sent
    assert fails(core, core_proj, "resubmit", first, rc=2) == \
        "a message is required: grunt resubmit <jobid> [args...] -m 'why'"
    assert fails(core, core_proj, "resubmit", "55", "-m", "x") == \
        "no such job in p on blanca: ali000055"
    assert fails(core, core_proj, "resubmit", "1..3", "-m", "x", rc=2) == "resubmit takes one job id"


def test_submit_message_forms_and_program_arguments_after_dashdash(core, core_proj):
    a = core.grunt("submit", "--lr", "0.1", "-m=equals form", cwd=core_proj).ok().out.strip()
    b = core.grunt("submit", "-mglued", cwd=core_proj).ok().out.strip()
    c = core.grunt("submit", "--lr", "1", "--message=long form", "--", "-m", "5", "--",
                   cwd=core_proj).ok().out.strip()
    d = core.grunt("submit", "-m", "why", "--", "-m", cwd=core_proj).ok().out.strip()
    jobs = core.jobs(cwd=core_proj)
    assert [(jobs[j]["args"], jobs[j]["message"]) for j in (a, b, c, d)] == [
        (["--lr", "0.1"], "equals form"), ([], "glued"),
        (["--lr", "1", "-m", "5", "--"], "long form"), (["-m"], "why")]
