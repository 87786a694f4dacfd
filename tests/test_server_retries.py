"""Retries and held jobs as grund runs them without the laptop (the local runner:
real processes; Slurm's own end states are in test_slurm.py)."""
from __future__ import annotations

import json
import os

from test_slurm import example, rounds_until

# fails on its first attempt, succeeds on the next (the job directory is the same)
FLAKY = 'if [ -e tried ]; then echo "second try"; else touch tried; echo first; exit 3; fi\n'


def retry_project(core, run_sh=FLAKY, **settings):
    core.newproj("p")
    return core.project("p", grunter="", run_sh=run_sh,
                        files={"grunter.py": example(runner="local", **settings)})


def settled(jid):
    return lambda js: js[jid]["status"] not in ("Pending", "Running") and \
        js[jid].get("attempt_open") is not True


def test_a_failed_attempt_is_retried_and_every_attempt_recorded(core):
    top = retry_project(core, retry={"FAILED": {"max": 3}})
    jid = core.submit(cwd=top)
    jobs = rounds_until(core, top, lambda js: js[jid]["status"] == "Done", timeout=30)
    assert jobs[jid]["attempt"] == 2
    job = core.sjob(jid)
    recs = [json.loads(ln) for ln in core.read(os.path.join(job, "job.attempts")).splitlines()]
    assert [(r["attempt"], r["state"], r["exitcode"]) for r in recs] == [(1, "FAILED", 3)]
    assert recs[0]["next"] == {"time": "01:00:00", "memory": "4G", "cpus": 1} or recs[0]["next"]
    assert core.read(os.path.join(job, "job.try1.out")) == "first\n"
    table = core.grunt("jobs", cwd=top).ok().out
    assert "Done (attempt 2 of 3)" in table
    assert core.grunt("out", jid, cwd=top).ok().out == "second try\n"
    assert core.grunt("out", jid, "--attempt", "1", cwd=top).ok().out == "first\n"
    shown = core.grunt("show", jid, cwd=top).ok().out
    assert "attempt 1" in shown and "FAILED" in shown


def test_retries_stop_at_max(core):
    top = retry_project(core, run_sh="echo no; exit 5\n", retry={"FAILED": {"max": 2}})
    jid = core.submit(cwd=top)
    rounds_until(core, top, lambda js: js[jid]["status"] == "Failed" and js[jid]["attempt"] == 2,
                 timeout=30)
    for _ in range(3):
        core.grund("--once", "-q", "--refresh", "0")
    job = core.sjob(jid)
    recs = core.read(os.path.join(job, "job.attempts")).splitlines()
    assert len(recs) == 2 and json.loads(recs[1])["next"] is None
    assert not os.path.exists(os.path.join(job, "job.try2.out"))
