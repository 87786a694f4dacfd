"""grund never stuck without a word: stale locks are removed, a damaged working
copy is rebuilt, and what grund cannot mend reaches every client."""
import json
import os
import re
import time

from fixture_core import GRUND, git, wait_for
from lib.server import project as served

OLD = 180    # seconds: a lock left by a git stopped three minutes ago


def _lock(path: str, age: float = OLD) -> str:
    with open(path, "w") as f:
        f.write("")
    _age(path, age)
    return path


def _age(path: str, age: float) -> None:
    os.utime(path, (time.time() - age, time.time() - age))


def _done(core, proj, jid) -> bool:
    return core.jobs(cwd=proj).get(jid, {}).get("status") == "Done"


def test_an_index_lock_that_appears_while_grund_runs_is_removed_once_stale(core, core_proj):
    core.start(GRUND, "--interval", "0.2", "-q")
    first = core.submit(cwd=core_proj)
    wait_for(lambda: _done(core, core_proj, first), what="the first job")
    fresh = _lock(os.path.join(core.swc("p"), ".git", "index.lock"), 0)
    jid = core.submit(cwd=core_proj)
    time.sleep(1.5)        # a git may be at work: a young lock is left alone
    assert os.path.exists(fresh) and not _done(core, core_proj, jid)
    _age(fresh, OLD)
    wait_for(lambda: _done(core, core_proj, jid), timeout=20, what="the job after the lock went")
    assert not os.path.exists(fresh)
    log = core.read(os.path.join(core.srv, "grunt", "srv", "blanca", "grund.log"))
    assert re.search(r"index\.lock: a lock 1[89]\d s old that no git holds", log), log


def test_a_stale_ref_lock_in_the_bare_repo_is_removed(core, core_proj):
    lock = _lock(os.path.join(core.bare("p"), "refs", "heads", "main.lock"))
    r = core.grunt("submit", "-m", "m", cwd=core_proj)
    assert r.rc == 1 and r.err == (
        "grunt: error: the repository on blanca is locked (main.lock is left from a git that was "
        "stopped there); grund removes such a lock once it is a minute old and no git uses the "
        "repository, so try again in a minute\n"), r.err
    core.grund()
    assert not os.path.exists(lock)
    jid = core.submit(cwd=core_proj)
    core.grund()
    assert _done(core, core_proj, jid)


def test_a_damaged_object_in_grunds_working_copy_is_rebuilt(core, core_proj):
    first = core.submit(cwd=core_proj)
    core.grund()
    wc = core.swc("p")
    head = git("rev-parse", "HEAD", cwd=wc).strip()
    obj = os.path.join(wc, ".git", "objects", head[:2], head[2:])
    assert os.path.exists(obj)
    os.chmod(obj, 0o644)
    open(obj, "w").close()          # emptied, as a full disk or a crash leaves it
    jid = core.submit(cwd=core_proj)
    core.grund()                    # one round mends it and goes on
    jobs = core.jobs(cwd=core_proj)
    assert (jobs[first]["status"], jobs[jid]["status"]) == ("Done", "Done")
    assert os.path.isdir(os.path.join(wc, ".git.damaged"))
    assert git("fsck", "--no-dangling", cwd=wc).strip() == ""
    assert core.calls().count(f"submit {jid}") == 1 and core.calls().count(f"submit {first}") == 1


def test_what_grund_cannot_mend_reaches_every_client(core, core_proj, monkeypatch):
    monkeypatch.setattr(served, "PROBLEM_AFTER", 0)
    config = os.path.join(core.swc("p"), ".git", "config")
    good = core.read(config)
    core.write(config, good + "[broken\n")
    jid = core.submit(cwd=core_proj)
    core.grund(errors=True)
    r = core.grunt("jobs", cwd=core_proj).ok()
    assert r.err.startswith("grunt: warning: blanca: grund cannot process project p: "), r.err
    r = core.grunt("server-status", cwd=core_proj)
    assert r.rc == 1 and "problem     grund cannot process project p: " in r.out
    st = json.loads(core.grunt("server-status", "--json", cwd=core_proj).out)
    assert st["problem"].startswith("grund cannot process project p: ")
    hb = json.loads(git("cat-file", "blob", "refs/grunt/heartbeat", cwd=core.bare("p")))
    assert hb["problem"] == st["problem"]
    core.write(config, good)
    core.grund()
    assert core.grunt("jobs", cwd=core_proj).ok().err == ""
    assert core.grunt("server-status", cwd=core_proj).rc == 0
    assert _done(core, core_proj, jid)
