"""Publishing a change exactly once: twin submits, pushes whose answer was lost."""
import os
import re

from fixture_core import git
from lib import git as G
from lib.client.project import Project
from lib.gruntlib import protocol as P


def _second_home(core):
    other = core.client_home("cli2")
    core.grunt("newproj", "p", core.srv, home=other).ok()
    return other


def test_twin_submits_from_two_homes_are_two_jobs(core, core_proj, monkeypatch):
    """Same identity, same checkout, args and message, the same second: two jobs."""
    other = _second_home(core)
    for var in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(var, "2026-01-01T00:00:00 +0000")
    monkeypatch.setattr(P, "now_ts", lambda: "2026-01-01 00:00:00 UTC")
    first = core.submit("--k", "2", m="race 2", cwd=core_proj)
    # the other home fetched a moment before that push landed: its first
    # sync sees the server as it was (its copy is still at the parent)
    real, stale = Project.sync, []

    def sync(self, wc=None):
        if not stale and (wc or self.jobs) == self.jobs:
            stale.append(1)
            G.git("reset", "-q", "--hard", f"origin/{P.BRANCH}", cwd=self.jobs)
            return
        return real(self, wc)
    monkeypatch.setattr(Project, "sync", sync)
    second = core.submit("--k", "2", m="race 2", cwd=core_proj, home=other)
    assert stale and second != first
    core.grund()
    jobs = core.jobs(cwd=core_proj)
    assert sorted(jobs) == sorted([first, second])
    assert [j["args"] for j in jobs.values()] == [["--k", "2"]] * 2
    assert sorted(core.calls()) == sorted([f"submit {first}", f"results {first}",
                                           f"submit {second}", f"results {second}"])
    subjects = git("log", "--format=%s", "main", cwd=core.bare("p")).splitlines()
    assert subjects.count("submit " + first + ": race 2") == 1


def _cut_off_after(core, hook: str) -> None:
    """The server's git dies at ``hook`` (pre-receive: before it takes the push,
    post-receive: after), and the repository is out of reach for the look that follows."""
    path = core.write(os.path.join(core.bare("p"), "hooks", hook),
                      '#!/bin/sh\nmv "$PWD" "$PWD.away"\nkill -9 $PPID\n')
    os.chmod(path, 0o755)


def _reachable_again(core, hook: str) -> None:
    os.rename(core.bare("p") + ".away", core.bare("p"))
    os.unlink(os.path.join(core.bare("p"), "hooks", hook))


def test_a_push_whose_answer_was_lost_is_unknown_then_settled_as_arrived(core, core_proj):
    _cut_off_after(core, "post-receive")
    r = core.grunt("submit", "-m", "m", cwd=core_proj)
    assert (r.rc, r.out) == (3, ""), r
    assert r.err.startswith("grunt: outcome unknown: submit ali000001 was sent to blanca, but "
                            "the connection broke before the server answered (") and "Traceback" not in r.err
    assert r.err.count("\n") == 1 and "the next grunt command that reaches blanca will say" in r.err
    _reachable_again(core, "post-receive")
    r = core.grunt("jobs", cwd=core_proj).ok()
    assert re.fullmatch(r"grunt: submit ali000001 \(m\), whose outcome was unknown at [0-9: -]+ "
                        r"UTC, did reach blanca: the job is Pending\n", r.err), r.err
    assert core.grunt("jobs", cwd=core_proj).ok().err == ""   # said once
    core.grund()
    assert core.calls() == ["submit ali000001", "results ali000001"]


def test_a_push_that_was_cut_off_before_it_landed_is_settled_as_not_arrived(core, core_proj):
    other = _second_home(core)
    _cut_off_after(core, "pre-receive")
    r = core.grunt("submit", "-m", "lost", cwd=core_proj)
    assert r.rc == 3 and r.err.startswith("grunt: outcome unknown: submit ali000001 was sent"), r
    _reachable_again(core, "pre-receive")
    # while the server's branch is where that push started, it could yet arrive: no word
    assert core.grunt("jobs", cwd=core_proj).ok().err == ""
    core.submit(m="from the other laptop", cwd=core_proj, home=other)
    r = core.grunt("jobs", cwd=core_proj).ok()
    assert re.fullmatch(r"grunt: submit ali000001 \(lost\), whose outcome was unknown at [0-9: -]+ "
                        r"UTC, did not reach blanca: send it again\n", r.err), r.err
    assert [j["message"] for j in core.jobs(cwd=core_proj).values()] == ["from the other laptop"]
