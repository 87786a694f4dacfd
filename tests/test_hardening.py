"""Bad input, inputs kept exactly, grunters that crash, hang or flood, security, no room."""
import os
import stat
import subprocess

import pytest  # noqa: F401 (fixtures, skip)

from fixture_core import SERVER, git

MARKER = "/tmp/grunt-hardening-marker"  # a command that got through a shell would create it
EVIL = [f"$(touch {MARKER})", f"; touch {MARKER}", f"`touch {MARKER}`", f"|| touch {MARKER} &"]


def repo_state(core, proj):
    """Everything a command could change: refs and status of every repo and the checkout."""
    repos = [core.cwc("p"), core.cwc("p", "results"), core.bare("p"), core.bare("p", "results"), proj]
    state = []
    for r in repos:
        state.append(git("rev-parse", "--all", cwd=r))
        if not r.endswith(".git"):
            state.append(git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=r))
    return state


# (argv, where: "proj" | "plain" | "nogrunter" | "badname", words expected in the one stderr line)
BAD = [
    (["submit", "a", "b"], "proj", "a message is required"),
    (["submit", "-m", "why", "a"], "proj", "-m 'message' must come last"),
    (["submit", "a", "-m", "why", "--message", "x"], "proj", "-m 'message' must come last"),
    (["submit", "a", "-m", " "], "proj", "the message is empty"),
    (["submit", "a\nb", "-m", "m"], "proj", "job arguments cannot contain newlines"),
    (["submit", "-m", "m"], "nogrunter", "no grunter.py in"),
    (["submit", "-m", "m"], "plain", "not a git checkout"),
    (["submit", "-m", "m"], "badname", "invalid project name 'a/b'"),
    (["frobnicate"], "proj", "unknown command 'frobnicate'"),
    (["$(touch /tmp/x)"], "proj", "unknown command"),
    (["out", "x.."], "proj", "not a job id: 'x..'"),
    (["out", "..5"], "proj", "not a job id: '..5'"),
    (["out", "abc000009..3"], "proj", "range 'abc000009..3' ends before it starts"),
    (["out", "ali000001..zzz000003"], "proj", "spans two prefixes"),
    (["out", "1..999999"], "proj", "is too large"),
    (["out", "zzz000001"], "proj", "no such job in p on blanca: zzz000001"),
    (["out", "999"], "proj", "no such job in p on blanca: ali000999"),
    (["out", "0"], "proj", "no such job in p on blanca: ali000000"),
    (["out", "1234567"], "proj", "not a job id"),
    (["ls", "abc"], "proj", "not a job id: 'abc'"),
    (["status", "1;rm"], "proj", "not a job id"),
    (["cancel"], "proj", "which job?"),
    (["out"], "proj", "which job?"),
    (["diff", "1", "2", "3"], "proj", "unrecognized arguments: 3"),
    (["message", "1", "  "], "proj", "the message is empty"),
    (["message", "1"], "proj", "the following arguments are required: text"),
    (["update", "1", "../../etc/passwd"], "proj", "result file must be a path inside the job"),
    (["update", "1", "/etc/passwd"], "proj", "result file must be a path inside the job"),
    (["jobs", "bogus"], "proj", "invalid choice: 'bogus'"),
    (["newproj", "a/b"], "proj", "invalid project name 'a/b'"),
    (["newproj", ".."], "proj", "invalid project name '..'"),
    (["newproj", "a b"], "proj", "invalid project name 'a b'"),
    (["newproj", ""], "proj", "invalid project name ''"),
    (["newproj", "$(touch /tmp/x)"], "proj", "invalid project name"),
    (["newproj-server", "x/../y"], "proj", "invalid project name"),
    (["server", "bad/name"], "proj", "invalid server name 'bad/name'"),
    (["help", "nosuch"], "proj", "no such command: nosuch"),
    (["link", "77"], "proj", "no such job in p on blanca: ali000077"),
]


def test_bad_input(core):
    """Each case: one clear stderr line, non-zero exit, no traceback, nothing changed."""
    assert len(BAD) >= 30
    proj = core.project("p")
    core.newproj("p")
    core.submit(cwd=proj)  # ali000001 exists
    plain = os.path.join(core.work, "plain")
    os.makedirs(plain)
    where = {"proj": proj, "plain": plain,
             "nogrunter": core.project("q", grunter="", files={"grunt.projname": "p\n"}),
             "badname": core.project("r", files={"grunt.projname": "a/b\n"})}
    wrong = []
    for argv, place, words in BAD:
        before = repo_state(core, proj)
        r = core.grunt(*argv, cwd=where[place])
        lines = r.err.splitlines()
        if not (r.rc != 0 and r.out == "" and "Traceback" not in r.err and len(lines) == 1
                and lines[0].startswith("grunt: error: ") and words in lines[0]):
            wrong.append(f"grunt {argv}: exit {r.rc}, stdout {r.out!r}, stderr {r.err!r}")
        if repo_state(core, proj) != before:
            wrong.append(f"grunt {argv} changed a repository")
    assert wrong == [], "\n".join(wrong)
    assert not os.path.exists("/tmp/x")


def test_inputs_kept_exactly(core):
    names = {"a b.txt": "spaces\n", "ünïcødé.txt": "unicode\n", "new\nline.txt": "newline\n",
             "-rf": "dash\n", "--help.txt": "dashes\n", "sub dir/$(x).txt": "dollar\n"}
    proj = core.project("p", files=names, run_sh='for a in "$@"; do echo "[$a]"; done\n')
    os.symlink("a b.txt", os.path.join(proj, "link"))
    os.symlink("../outside", os.path.join(proj, "dangling"))
    with open(os.path.join(proj, "big.bin"), "wb") as f:
        f.truncate(200 << 20)  # 200 MB of zeros
    git("add", "-A", cwd=proj)
    git("commit", "-q", "-m", "nasty names", cwd=proj)
    core.newproj("p")
    msg = 'line one\nsaid "hi" and \'bye\'\nünïcødé ✓ ' + " ".join(EVIL)
    r = core.grunt("submit", *EVIL, "plain", "-m", msg, cwd=proj).ok()
    jid = r.out.strip()
    assert r.err == ("grunt: warning: shipping big file(s): big.bin (200 MB); "
                     "every job keeps its own copy in the jobs repository\n")
    core.grund()
    job = core.sjob(jid)  # read back on the server side
    for name, text in names.items():
        assert core.read(os.path.join(job, name)) == text
    assert os.readlink(os.path.join(job, "link")) == "a b.txt"
    assert os.readlink(os.path.join(job, "dangling")) == "../outside"
    assert os.path.getsize(os.path.join(job, "big.bin")) == 200 << 20
    assert core.read(os.path.join(job, "job.message")) == msg + "\n"
    assert core.read(os.path.join(job, "job.args")) == "".join(a + "\n" for a in EVIL + ["plain"])
    assert core.read(os.path.join(job, "job.out")) == "".join(f"[{a}]\n" for a in EVIL + ["plain"])
    new = "new\n\"quoted\" `x` $(y) ✓"
    core.grunt("message", jid, new, cwd=proj).ok()
    git("pull", "-q", cwd=core.swc("p"))
    assert core.read(os.path.join(job, "job.message")) == new + "\n"
    assert not os.path.exists(MARKER)


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
    git("add", "-A", "--sparse", cwd=wc)  # the client copy is sparse
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


@pytest.fixture
def small_disk(core):
    """grund's working copies on a 4 MB tmpfs (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    top = os.path.join(core.srv, "grunt", "srv", SERVER, "p")
    os.makedirs(top)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", top], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    yield top
    subprocess.run(["umount", "-l", top], check=False)


def fill(path):
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_out_of_space_is_reported_kept_and_finished_later(core, small_disk):
    proj = core.project("p")
    core.newproj("p")
    core.grund()
    filler = os.path.join(small_disk, "filler")
    fill(filler)
    jid = core.submit(cwd=proj)
    for _ in range(5):  # more rounds than grund ever tries a failing command
        core.grund(errors=True)
    assert core.calls() == []
    r = core.grunt("jobs", cwd=proj).ok()
    assert r.err == (f"grunt: warning: {SERVER}: grund cannot write in {core.swc('p')}: "
                     "no space left on device; commands are kept and run once there is room\n")
    assert core.jobs(cwd=proj)[jid]["status"] == "Pending"
    os.unlink(filler)
    core.grund()
    assert core.calls() == [f"submit {jid}", f"results {jid}"]
    r = core.grunt("jobs", cwd=proj).ok()
    assert r.err == ""
    assert core.jobs(cwd=proj)[jid]["status"] == "Done"


def test_a_command_repeated_within_its_second_beside_new_ones_is_not_lost(core, core_proj):
    a, b = core.submit(cwd=core_proj), core.submit(cwd=core_proj)
    core.grund()
    core.grunt("status", a, cwd=core_proj).ok()
    # a's grcmd.status gets the same timestamp again (the same second), b's is new
    core.grunt("status", a, b, cwd=core_proj).ok()
    core.grund()
    calls = core.calls()
    assert calls.count(f"status {a}") == 2 and calls.count(f"status {b}") == 1
