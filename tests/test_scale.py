"""Costs that must not grow with the size of a project or the number of jobs.

Each test counts the git processes a command starts, through a ``git`` on PATH
that logs its arguments and runs the real git.  (The timings themselves are in
``make bench``.)
"""
from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from fixture_core import SERVER, wait_for

RUN_MANY = ('mkdir -p out\ni=0\nwhile [ $i -lt "$1" ]; do echo "$i" > out/r$i.txt; '
            'i=$((i + 1)); done\necho made "$1"\n')


@pytest.fixture
def gitlog(tmp_path, monkeypatch):
    """Every git process from now on appends its arguments to the returned log."""
    shim = tmp_path / "shim"
    shim.mkdir()
    log = tmp_path / "git.calls"
    real = shutil.which("git")
    (shim / "git").write_text(f'#!/bin/sh\nprintf "%s|%s\\0" "$PWD" "$*" >> "{log}"\n'
                              f'exec "{real}" "$@"\n')
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")

    class Log:
        def take(self) -> list[str]:
            """The calls since the last take."""
            lines = [x for x in log.read_text().split("\0") if x] if log.exists() else []
            log.write_text("")
            return lines
    return Log()


def subcommands(calls: list[str]) -> list[str]:
    """The git subcommand of each call (the first word that is no option or option value)."""
    out = []
    for line in calls:
        words = line.split("|", 1)[1].split()
        i = 0
        while i < len(words) and words[i].startswith("-"):
            i += 2 if words[i] in ("-c", "-C") else 1
        out.append(words[i] if i < len(words) else "")
    return out


def many_files(n: int) -> dict[str, str]:
    return {f"src/m{i // 50}/f{i}.py": f"x = {i}\n" for i in range(n)}


def test_submit_runs_as_many_git_processes_for_400_files_as_for_40(core, gitlog):
    counts = {}
    for n in (40, 400):
        top = core.project(f"p{n}", files=many_files(n))
        core.newproj(f"p{n}")
        core.submit(cwd=top)   # the first submit of a project (its set-up) aside
        for rel, text in many_files(n).items():   # every file new to the repo again
            core.write(os.path.join(top, rel), "changed " + text)
        gitlog.take()
        jid = core.submit(cwd=top)
        calls = subcommands(gitlog.take())
        counts[n] = calls
        # one fetch and one push per command, and the snapshot is in the repo
        assert calls.count("fetch") == 1 and calls.count("push") == 1, calls
        # the new files went into one pack, not a loose object each
        assert calls.count("fast-import") == 1, calls
        shipped = core.grunt("diff", jid, cwd=top).ok().out
        assert shipped == ""   # the job holds exactly the project as it is
    assert len(counts[40]) == len(counts[400]), counts


def test_update_of_1000_result_files_runs_as_many_git_processes_as_of_10(core, gitlog):
    top = core.project("p", run_sh=RUN_MANY)
    core.newproj("p")
    small, big = core.submit("10", cwd=top), core.submit("1000", cwd=top)
    core.grund()
    counts = {}
    for jid, n in ((small, 10), (big, 1000)):
        core.grunt("update", jid, cwd=top).ok()
        gitlog.take()
        core.grund()
        counts[n] = subcommands(gitlog.take())
        res = os.path.join(core.swc("p", "results"), "active", jid, "p", "out")
        assert len(os.listdir(res)) == n
    # the 1000 go into one pack (fast-import); for 10 a loose object each is cheaper
    assert counts[1000].count("fast-import") == 1 and "fast-import" not in counts[10], counts
    assert counts[10] == [c for c in counts[1000] if c != "fast-import"], counts


def test_grund_once_starts_no_git_for_an_unchanged_project(core, gitlog):
    tops = {}
    for name in ("a", "b"):
        tops[name] = core.project(name)
        core.newproj(name)
    jid = core.submit(cwd=tops["a"])
    core.grund()
    assert core.jobs(cwd=tops["a"])[jid]["status"] == "Done"
    gitlog.take()
    core.grund()
    assert gitlog.take() == []             # nothing pushed, no job wrote: stats only
    core.submit(cwd=tops["b"])
    gitlog.take()
    core.grund()
    places = {line.split("|", 1)[0] for line in gitlog.take()}
    assert core.swc("b") in places                          # the project with a push
    assert not any(p.startswith(core.swc("a")) for p in places)   # the unchanged one


def test_grund_once_sees_a_job_that_writes_its_files_without_the_marker(core):
    """An older grunter's job script writes job.end and touches nothing else."""
    top = core.project("p", grunter="async", run_sh="sleep 60\n")
    core.newproj("p")
    jid = core.submit(cwd=top)
    core.grund()
    job = core.sjob(jid)
    core.write(os.path.join(job, "go"), "")
    wait_for(lambda: os.path.exists(os.path.join(job, "job.start")), what="the job to start")
    time.sleep(0.1)          # the job script touches the marker right after
    core.grund()             # grund has seen it all: the job runs
    assert core.jobs(cwd=top)[jid]["status"] == "Running"
    os.killpg(int(core.read(os.path.join(job, "job.pid"))), signal.SIGKILL)
    core.write(os.path.join(job, "job.exitcode"), "0\n")
    core.write(os.path.join(job, "job.end"), "2026-01-01 00:00:00 UTC\n")
    core.grund()
    assert core.jobs(cwd=top)[jid]["status"] == "Done"


def test_running_grund_trusts_an_idle_projects_stats_and_still_sees_every_change(core, gitlog):
    """An idle project costs a running grund only stats; a push, a stale lock or a
    runner's marker brings it back to a full look."""
    from lib.server import grund as daemon
    top = core.project("p")
    core.newproj("p")
    jid = core.submit(cwd=top)
    core.home(core.srv)
    d = daemon.Grund(SERVER, once=True)
    d.round()                      # runs the job
    time.sleep(1.1)                # past the racy second: the stats may be trusted
    d.round()                      # nothing to do: remembered as quiet
    served = d.projects["p"]
    assert served.quiet is not None
    gitlog.take()
    d.round()
    assert gitlog.take() == []
    core.home(core.cli)
    core.grunt("update", jid, cwd=top).ok()   # a push
    core.home(core.srv)
    assert served.quick_key([])[1] != served.quiet
    d.round()
    assert "fetch" in subcommands(gitlog.take())
    lock = os.path.join(core.bare("p"), "packed-refs.lock")
    core.write(lock, "")
    old = time.time() - 3600
    os.utime(lock, (old, old))
    time.sleep(1.1)
    d.round()
    assert not os.path.exists(lock)           # mended: the lock changed the stats
    served.quiet = served.quick_key([])[1]    # as if a quiet round had just been
    core.write(os.path.join(core.swc("p"), ".git", "grunt-changed"), "")
    assert served.quick_key([])[1] != served.quiet


def test_an_idle_round_looks_at_no_project_and_a_recheck_sees_an_unmarked_change(
        core, gitlog, monkeypatch):
    """A running grund's round between wake-ups reads the marks folder and nothing of
    any project (counted: stats, folder reads, git); a push leaves its project's mark,
    and a change that left none is seen by the round that looks at every project."""
    from lib.server import grund as daemon
    names = ("a", "b", "c")
    tops = {}
    for name in names:
        tops[name] = core.project(name)
        core.newproj(name)
    core.home(core.srv)
    d = daemon.Grund(SERVER, once=True, recheck=3600)
    d.round()                      # every project, as a grund's first round
    time.sleep(1.1)                # past the racy second: the stats may be trusted
    d.round(full=False)            # those left to look at again: quiet now
    assert not d.again and set(d.projects) == set(names)
    touched = []
    with monkeypatch.context() as m:
        for name in ("stat", "lstat", "scandir", "listdir", "open"):
            real = getattr(os, name)

            def counted(path=".", *a, _real=real, **k):
                if not isinstance(path, int) and any(
                        f"/{n}/" in os.fsdecode(path) + "/" for n in names):
                    touched.append(os.fsdecode(path))
                return _real(path, *a, **k)
            m.setattr(os, name, counted)
        gitlog.take()
        for _ in range(3):
            d.round(full=False)
    assert touched == [] and gitlog.take() == []
    assert not d.full_due(False) and d.full_due(True)   # a poke without a mark: all

    def pushed(name: str) -> str:
        core.home(core.cli)
        jid = core.submit(cwd=tops[name])
        core.home(core.srv)
        return jid
    pushed("b")                    # the hook leaves b's mark
    marks = os.path.join(core.srv, "grunt", "srv", SERVER, ".grund-marks")
    assert os.listdir(marks) == ["b"]
    gitlog.take()
    d.round(full=False)
    places = {line.split("|", 1)[0] for line in gitlog.take()}
    assert core.swc("b") in places and not any(core.swc(n) in places for n in ("a", "c"))
    jid = pushed("c")
    os.unlink(os.path.join(marks, "c"))   # a push whose mark was lost
    d.round(full=False)
    assert not os.path.isdir(core.sjob(jid, "c"))
    d.recheck = 0
    assert d.full_due(False)
    d.round(full=d.full_due(False))
    assert os.path.isdir(core.sjob(jid, "c"))   # the look at every project saw it
    # a heartbeat that falls due is written by a round that looks at no other project
    from lib import heartbeat
    beats = {n: core.read(os.path.join(core.bare(n), "refs", "grunt", "heartbeat")) for n in names}
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + heartbeat.EVERY + 1)
    d.round(full=False)
    assert all(core.read(os.path.join(core.bare(n), "refs", "grunt", "heartbeat")) != beats[n]
               for n in names)


# git processes per client command (local transport): a regression fails here.
# What is left: submit hashes the project (ls-files, update-index, write-tree),
# records its provenance (rev-parse, symbolic-ref, config, diff), fetches (the id
# is allocated against the server's state), grafts the snapshot into the sparse
# copy (read-tree, update-index), reads the committer (config), then add, commit,
# push; a command on jobs (status) is the fetch, config, add, diff (a repeated
# command), commit, push; pull fetches the jobs, and the results only when grund's
# heartbeat names a tip the copy lacks (not here), and resets the results copy.  The
# heartbeat is read from its loose object, without git.
GIT_PER_COMMAND = {"submit": 14, "jobs": 2, "jobs again": 1, "pull": 3, "out": 1,
                   "ls": 1, "diff": 5, "status": 6}


def test_git_processes_per_command_do_not_grow(core, gitlog):
    top = core.project("p")
    core.newproj("p")
    jid = core.submit(cwd=top)
    core.grund()
    core.grunt("pull", cwd=top).ok()
    counts = {}
    for name, argv in (("submit", ["submit", "-m", "again"]), ("jobs", ["jobs"]),
                       ("jobs again", ["jobs"]), ("pull", ["pull"]), ("out", ["out", jid]),
                       ("ls", ["ls", jid]), ("diff", ["diff", jid]), ("status", ["status"])):
        gitlog.take()
        r = core.grunt(*argv, cwd=top)
        assert r.rc == 0, (argv, r.err)
        counts[name] = subcommands(gitlog.take())
    grown = {k: v for k, v in counts.items() if len(v) > GIT_PER_COMMAND[k]}
    assert not grown, f"more git processes than {GIT_PER_COMMAND}: {grown}"
    assert all(c.count("fetch") <= 1 for k, c in counts.items() if k != "pull"), counts
