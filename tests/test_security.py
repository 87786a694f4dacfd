"""grund runs only its own command files, keeps results inside the job, and everything is private."""
import os
import stat

from fixture_core import SERVER, git


MARKER = "/tmp/grunt-hardening-marker"  # a command that got through a shell would create it


def test_odd_grcmd_files_run_nothing(core, core_proj):
    jid = core.submit(cwd=core_proj)
    core.grund()
    wc = core.cwc("p")
    git("pull", "-q", "--ff-only", cwd=wc)
    for rel in ["grcmd.submit", "active/grcmd.submit", f"active/{jid}/grcmd.submit",
                f"active/{jid}/p/grcmd.$(touch {MARKER})", f"active/{jid}/p/grcmd.",
                f"active/{jid}/p/grcmd.sub mit", f"active/{jid}/p/grcmd.-rf",
                f"active/{jid}/p/x/grcmd.status", f"archive/{jid}/../{jid}/p/grcmd.x"]:
        core.write(os.path.join(wc, rel), f"$(touch {MARKER})\n")
    git("-c", "core.sparseCheckout=false", "add", "-A", cwd=wc)  # a sparse copy (add --sparse: git 2.34)
    git("commit", "-q", "-m", "odd", cwd=wc)
    git("push", "-q", "origin", "HEAD:main", cwd=wc)
    core.grund()
    assert core.calls() == [f"submit {jid}", f"results {jid}"]
    assert not os.path.exists(MARKER)


def test_results_leading_out_of_the_job_are_refused(core):
    run_sh = "mkdir -p out\necho ok > out/r.txt\nln -s /etc escape\nln -s ../../.. up\n"
    proj = core.project("p", run_sh=run_sh, files={
        "results.lst": "out\n../../../../etc/passwd\n/etc/hostname\nescape/passwd\nup/grunt\n"})
    core.newproj("p")
    jid = core.submit(cwd=proj)
    core.grund()
    log = core.read(os.path.join(core.sjob(jid), "job.log"))
    assert ("results: refused paths outside the job: ../../../../etc/passwd, /etc/hostname, "
            "escape/passwd, up/grunt") in log
    files = git("ls-tree", "-r", "--name-only", "main", cwd=core.bare("p", "results")).split()
    assert [f for f in files if jid in f] == [f"active/{jid}/p/out/r.txt"]


def test_grunt_dirs_and_repos_are_private(core, core_proj):
    core.grund()
    places = [os.path.join(core.srv, "grunt"), os.path.join(core.cli, "grunt"),
              core.bare("p"), core.bare("p", "results"), core.swc("p"), core.swc("p", "results"),
              core.cwc("p"), core.cwc("p", "results"),
              os.path.join(core.srv, "grunt", "srv", SERVER)]
    for path in places:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
