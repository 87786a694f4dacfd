"""The run record: provenance at submit, show, diff --source, log, resubmit, undelete."""
import os
import re
import subprocess

from fixture_core import SERVER, git

TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


def show(core, jid, cwd):
    """``grunt show`` as {label: text}."""
    out = core.grunt("show", jid, cwd=cwd).ok().out
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\S.*?)\s{2,}(.*)$", out, re.M)}


def snapshot(core, jid):
    """{path: (mode, blob)} of a job's committed snapshot, job files left out."""
    rel = f"active/{jid}/p/"
    tree = subprocess.run(["git", "ls-tree", "-r", "-z", "HEAD", "--", rel], cwd=core.cwc("p"),
                          capture_output=True, text=True, check=True).stdout
    out = {}
    for entry in filter(None, tree.split("\0")):
        meta, path = entry.split("\t", 1)
        if not path[len(rel):].startswith(("job.", "grcmd.")):
            out[path[len(rel):]] = tuple(meta.split()[::2])
    return out


def fails(core, cwd, *argv, rc=1):
    """One line on stderr, the given exit code, and the jobs repo on the server unchanged."""
    before = git("rev-parse", "main", cwd=core.bare("p"))
    r = core.grunt(*argv, cwd=cwd)
    assert r.rc == rc and r.out == "" and "Traceback" not in r.err, r
    assert r.err.startswith("grunt: error: ") and r.err.count("\n") == 1, r.err
    assert git("rev-parse", "main", cwd=core.bare("p")) == before
    return r.err[len("grunt: error: "):].strip()


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
    assert all(re.fullmatch(TS, s[k]) for k in ("submit", "start", "end"))
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
    assert all(re.fullmatch(TS, r[0]) and re.fullmatch(r"[0-9a-f]{7,}", r[1]) for r in rows)
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
