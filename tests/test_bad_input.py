"""Bad input gets one line and changes nothing; good input is kept exactly."""
import os

import pytest

from fixture_core import git


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


@pytest.mark.system  # a 200 MB file among them
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
