"""Retries of single tasks of a sweep or array job, as grund runs them without the
laptop (the local runner: real processes; real Slurm in test_slurm_sweep.py)."""
from __future__ import annotations

import json
import os
import time

import pytest

from test_server_retries import bare_job, die_then_finish, kill_at, retry_project, settled
from test_slurm import rounds_until

# run t=2 fails on its first attempt (its run directory is the same on the next)
FLAKY_RUN = ('echo x >> ../../../../../runs.txt\n'
             'if [ "$2" = 2 ] && [ ! -e tried ]; then touch tried; echo first; exit 3; fi\n'
             'echo "ok $2"\n')


def recs(core, jid):
    text = core.read(os.path.join(core.sjob(jid), "job.attempts"))
    return [json.loads(ln) for ln in text.splitlines()]


def test_a_failed_run_of_a_sweep_is_retried_alone(core):
    top = retry_project(core, run_sh=FLAKY_RUN, retry={"FAILED": {"max": 3, "time": "2x"}})
    jid = core.grunt("sweep", "t=1..3", "-m", "flaky", cwd=top).ok().out.split(":")[0]
    jobs = rounds_until(core, top, lambda js: js[jid]["status"] == "Done" and settled(jid)(js)
                        and len(js[jid].get("attempts", [])) == 4,
                        timeout=40)
    job = core.sjob(jid)
    assert core.read(os.path.join(core.swc("p"), "runs.txt")) == "x\n" * 4   # 3 runs, 1 retry
    tasks = {t["task"]: t for t in jobs[jid]["tasks"]}
    assert {t: v["status"] for t, v in tasks.items()} == {0: "Done", 1: "Done", 2: "Done"}
    assert tasks[1]["attempt"] == 2 and tasks[0].get("attempt", 1) == 1
    got = recs(core, jid)
    assert [(r.get("task"), r["attempt"], r.get("state"), r["next"]) for r in got] == [
        (1, 1, "FAILED", {"time": "02:00:00", "memory": "4G", "cpus": 1}),
        (None, 1, None, {"time": "02:00:00", "memory": "4G", "cpus": 1}),
        (1, 2, "COMPLETED", None), (None, 2, None, None)]
    assert got[1]["retried"] == [1] and got[3]["retried"] == []
    assert core.read(os.path.join(job, "job.1.try1.out")) == "first\n"
    assert core.read(os.path.join(job, "job.1.out")) == "ok 2\n"
    assert core.read(os.path.join(job, "job.0.out")) == "ok 1\n"
    assert core.grunt("out", f"{jid}_1", cwd=top).ok().out == "ok 2\n"
    assert "Done (attempt 2 of 3)" in core.grunt("jobs", jid, cwd=top).ok().out
    assert "Done (3 tasks: 3 Done)" in core.grunt("jobs", cwd=top).ok().out
    shown = core.grunt("show", f"{jid}_1", cwd=top).ok().out
    assert f"{jid}_1 attempt 1" in shown and "FAILED (exit 3)" in shown and "retried" in shown
    assert f"{jid}_0 attempt" not in core.grunt("show", jid, cwd=top).ok().out
    assert core.grunt("out", f"{jid}_1", "--attempt", "1", cwd=top).ok().out == "first\n"
    r = core.grunt("out", f"{jid}_1", "--attempt", "3", cwd=top)
    assert r.rc != 0 and f"{jid}_1 has no attempt 3" in r.err and len(r.err.splitlines()) == 1


def sweep_of_three(core, top):
    return core.grunt("sweep", "t=1..3", "-m", "flaky", cwd=top).ok().out.split(":")[0]


@pytest.mark.parametrize("point", ["first submit", "decided", "half-archived", "archived",
                                   "submitted"])
def test_a_kill_during_a_tasks_retry_gives_exactly_one_retry(core, monkeypatch, point):
    from lib.server import taskretries
    top = retry_project(core, run_sh=FLAKY_RUN, retry={"FAILED": {"max": 3}})
    kill_at(monkeypatch, point, taskretries, "archive", ("job.1.out", "job.1.try1.out"))
    jid = sweep_of_three(core, top)
    die_then_finish(core, monkeypatch, top, jid, 4)
    assert core.read(os.path.join(core.swc("p"), "runs.txt")) == "x\n" * 4   # one retry
    got = recs(core, jid)
    assert [(r.get("task"), r["attempt"], bool(r["next"])) for r in got] == [
        (1, 1, True), (None, 1, True), (1, 2, False), (None, 2, False)]
    job = core.sjob(jid)
    assert core.read(os.path.join(job, "job.1.try1.out")) == "first\n"
    assert core.read(os.path.join(job, "job.1.out")) == "ok 2\n"


# task 1 of an array fails on its first attempt (the job directory is the same)
FLAKY_TASK = ('T=$SLURM_ARRAY_TASK_ID\n'
              'if [ "$T" = 1 ] && [ ! -e "tried.$T" ]; then\n'
              '  touch "tried.$T"; echo first; exit 3\nfi\n'
              'echo "ok $T"\n')


def check_array_task_retried(core, top, timeout=40):
    """An array of three whose task 1 fails once: retried alone, then all Done."""
    jid = core.submit(cwd=top)
    rounds_until(core, top, lambda js: js[jid]["status"] == "Done"
                 and len(js[jid].get("attempts", [])) == 4, timeout=timeout)
    assert [(r.get("task"), r["attempt"], r.get("state")) for r in recs(core, jid)] == [
        (1, 1, "FAILED"), (None, 1, None), (1, 2, "COMPLETED"), (None, 2, None)]
    job = core.sjob(jid)
    assert [core.read(os.path.join(job, f"job.{t}.out")) for t in range(3)] == [
        "ok 0\n", "ok 1\n", "ok 2\n"]
    assert core.read(os.path.join(job, "job.1.try1.out")) == "first\n"
    table = core.grunt("jobs", cwd=top).ok().out
    assert "_1" in table and "Done (attempt 2 of 2)" in table
    return jid, job


def test_a_failed_task_of_an_array_is_retried_alone(core):
    top = retry_project(core, run_sh=FLAKY_TASK, array="0-2", retry={"FAILED": {"max": 2}})
    check_array_task_retried(core, top)


def test_a_round_of_tasks_from_the_files_alone(tmp_path):
    """Phases of an array's round, each task decided with its own rule, one round's
    resources the most any of its tasks asks for; Grid Engine arrays are left alone."""
    from lib.server import retries as R
    d, job, files = bare_job(tmp_path)
    files(retry=json.dumps({"policy": {"TIMEOUT": {"time": "2x", "max": 3},
                                       "OUT_OF_MEMORY": {"memory": "2x", "max": 2}},
                            "resources": {"time": "1:00:00", "memory": "4G"}}),
          array="0-2", pid="1", start="t")
    for t in range(3):
        files(**{f"{t}_start": "t", f"{t}_end": "t", f"{t}_out": f"out {t}"})
    assert R.phase(job) == R.ENDING                  # the tasks have no final status yet
    for t, word in enumerate(("COMPLETED", "TIMEOUT", "OUT_OF_MEMORY")):
        files(**{f"{t}_status": word})
    assert R.phase(job) == R.ENDED
    R.advance(job, lambda j: None, lambda j: None, lambda j, rec: None)
    attempt = json.loads((d / "job.attempt").read_text())
    assert attempt == {"attempt": 2, "max": 3, "tasks": [1, 2],
                       "resources": {"time": "02:00:00", "memory": "8G"}}
    assert (d / "job.1.try1.out").read_text() == "out 1\n" and not (d / "job.1.out").exists()
    assert (d / "job.0.out").exists() and (d / "job.try1.pid").exists()
    assert R.phase(job) == R.TO_SUBMIT
    (d / "job.sgeid").write_text("5\n")            # the round submitted (Grid Engine's too)
    assert R.phase(job) == R.RUNNING


def test_the_digest_line_counts_a_retried_run_once(core, monkeypatch):
    monkeypatch.setenv("GRUNT_DIGEST", "1")
    top = retry_project(core, run_sh=FLAKY_RUN, retry={"FAILED": {"max": 2}})
    jid = sweep_of_three(core, top)
    lines = []
    for _ in range(60):
        core.grund("--once", "-q", "--refresh", "0")
        r = core.grunt("jobs", "all", cwd=top).ok()
        lines += [ln for ln in r.err.splitlines() if "since" in ln]
        if "Done (3 tasks: 3 Done)" in r.out and len(r.out.splitlines()) > 1 \
                and os.path.exists(os.path.join(core.sjob(jid), "job.1.try1.out")):
            break
        time.sleep(0.2)
    assert [ln for ln in lines if "retried" in ln] and \
        all("1 Failed -> retried" in ln for ln in lines if "retried" in ln), lines
