"""The user's view on a real Slurm and Grid Engine: grunt + grund + grunter_example.py.

The runner tests (test_runner_slurm.py) drive grunter directly as grund does;
this module goes through the client and the daemon: submit, `grund --once`
rounds, and what `grunt jobs`, `out`, `queue` and `pull` then show.
"""
from __future__ import annotations

import os
import re
import signal
import time

import pytest

from fixture_core import git

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_SH = """\
case "$1" in
  ok) echo fine; echo 42 > answer.txt ;;
  fail) echo broken; exit 3 ;;
  wait) while [ ! -e go ]; do sleep 0.1; done ;;
  arr) echo "task $SLURM_ARRAY_TASK_ID"; [ "$SLURM_ARRAY_TASK_ID" != 2 ] || exit 2 ;;
  sgearr) T=$((SGE_TASK_ID - 1)); echo "task $T"; [ "$T" != 2 ] || exit 2 ;;
esac
"""


def example(**settings) -> str:
    with open(os.path.join(REPO, "grunter_example.py"), encoding="utf-8") as f:
        text = f.read()
    for key, value in settings.items():
        text, n = re.subn(rf'^(\s*"{key}": )[^,]+,', rf"\g<1>{value!r},", text, flags=re.M)
        assert n == 1, key
    return text


def rounds_until(core, cwd, pred, timeout=60.0, *grund_args: str, pause: float = 0.3):
    """Run grund rounds (with ``grund_args``) until the jobs table satisfies ``pred``."""
    deadline = time.monotonic() + timeout
    while True:
        core.grund(*grund_args)
        jobs = core.jobs("all", cwd=cwd)
        if pred(jobs):
            return jobs
        assert time.monotonic() < deadline, f"gave up waiting; jobs: {jobs}"
        time.sleep(pause)


def test_jobs_on_slurm_through_grunt_and_grund(core, slurm):
    core.newproj("p")
    top = core.project("p", grunter="", run_sh=RUN_SH, files={"grunter.py": example()})
    ok = core.submit("ok", cwd=top)
    fail = core.submit("fail", cwd=top)
    wait = core.submit("wait", cwd=top)
    # the working-tree grunter.py is what ships: change settings between submits
    core.write(os.path.join(top, "grunter.py"), example(partition="nosuch"))
    rejected = core.submit("ok", cwd=top)
    core.write(os.path.join(top, "grunter.py"), example(array="0-3"))
    arr = core.submit("arr", cwd=top)

    core.grund()
    jobs = core.jobs("all", cwd=top)
    assert jobs[rejected]["status"] == "Failed"
    out = core.grunt("out", rejected, cwd=top).ok().out
    assert "invalid partition" in out.lower()
    for jid in (ok, fail, wait, arr):
        assert jobs[jid]["sched_id"].isdigit(), jobs[jid]

    jobs = rounds_until(core, top, lambda js: js[wait]["status"] == "Running"
                        and all(js[j]["status"] not in ("Pending", "Running") for j in (ok, fail, arr)))
    assert (jobs[ok]["status"], jobs[ok]["exit_code"]) == ("Done", 0)
    assert (jobs[fail]["status"], jobs[fail]["exit_code"]) == ("Failed", 3)
    assert (jobs[arr]["status"], jobs[arr]["exit_code"]) == ("Failed", 2)
    assert core.grunt("out", fail, cwd=top).ok().out == "broken\n"

    table = core.grunt("jobs", cwd=top).ok().out
    tasks = {m.group(1): m.group(2) for m in re.finditer(r"^\s+_(\d)\s+(\w+)", table, re.M)}
    assert tasks == {"0": "Done", "1": "Done", "2": "Failed", "3": "Done"}
    arr_out = core.grunt("out", arr, cwd=top).ok().out
    assert "--- task 2 ---\ntask 2\n" in arr_out and "--- task 3 ---\ntask 3\n" in arr_out

    queue = core.grunt("queue", cwd=top).ok().out
    assert "debug" in queue  # the test cluster's partition

    core.grunt("cancel", wait, cwd=top).ok()
    jobs = rounds_until(core, top, lambda js: js[wait]["status"] not in ("Pending", "Running"))
    assert jobs[wait]["status"] == "Canceled"

    # a finished job's results were copied without asking; pull brings them
    core.grunt("pull", cwd=top).ok()
    with open(os.path.join(core.cjob(ok, kind="results"), "answer.txt")) as f:
        assert f.read() == "42\n"
    # every job file is committed; only the jobs' outputs stay untracked there
    left = git("status", "--porcelain", "-uall", cwd=core.swc("p")).splitlines()
    assert left and not [ln for ln in left if "/job." in ln or not ln.startswith("??")]


def test_jobs_on_grid_engine_through_grunt_and_grund(core, sge):
    core.newproj("p")
    top = core.project("p", grunter="", run_sh=RUN_SH, files={"grunter.py": example(runner="sge")})
    ok, fail, wait = (core.submit(arg, cwd=top) for arg in ("ok", "fail", "wait"))
    core.write(os.path.join(top, "grunter.py"), example(runner="sge", array="0-3"))
    arr = core.submit("sgearr", cwd=top)
    core.grund()
    assert all(core.jobs(cwd=top)[j]["sched_id"].isdigit() for j in (ok, fail, wait, arr))
    jobs = rounds_until(core, top, lambda js: js[wait]["status"] == "Running"
                        and all(js[j]["status"] not in ("Pending", "Running") for j in (ok, fail, arr)))
    assert (jobs[ok]["status"], jobs[ok]["exit_code"]) == ("Done", 0)
    assert (jobs[fail]["status"], jobs[fail]["exit_code"]) == ("Failed", 3)
    assert (jobs[arr]["status"], jobs[arr]["exit_code"]) == ("Failed", 2)
    assert core.grunt("out", fail, cwd=top).ok().out == "broken\n"
    assert "--- task 2 ---\ntask 2\n" in core.grunt("out", arr, cwd=top).ok().out
    assert "CLUSTER QUEUE" in core.grunt("queue", cwd=top).ok().out
    core.grunt("cancel", wait, cwd=top).ok()
    jobs = rounds_until(core, top, lambda js: js[wait]["status"] not in ("Pending", "Running"))
    assert jobs[wait]["status"] == "Canceled"
    core.grunt("pull", cwd=top).ok()
    with open(os.path.join(core.cjob(ok, kind="results"), "answer.txt")) as f:
        assert f.read() == "42\n"


@pytest.mark.parametrize("runner", ["local"])
def test_local_runner_without_a_scheduler(core, runner):
    core.newproj("p")
    top = core.project("p", grunter="", run_sh=RUN_SH, files={"grunter.py": example(runner=runner)})
    ok, fail = core.submit("ok", cwd=top), core.submit("fail", cwd=top)
    jobs = rounds_until(core, top, lambda js: all(j["status"] not in ("Pending", "Running")
                                                  for j in js.values()), timeout=30)
    assert (jobs[ok]["status"], jobs[ok]["exit_code"]) == ("Done", 0)
    assert (jobs[fail]["status"], jobs[fail]["exit_code"]) == ("Failed", 3)
    assert jobs[ok]["start"] and jobs[ok]["end"]


def test_a_job_killed_outright_is_noticed_by_the_periodic_refresh(core):
    core.newproj("p")
    top = core.project("p", grunter="", run_sh="sleep 60\n",
                       files={"grunter.py": example(runner="local")})
    jid = core.submit(cwd=top)
    core.grund()
    job = core.sjob(jid)
    with open(os.path.join(job, "job.pid")) as f:
        pgid = int(f.read())
    assert rounds_until(core, top, lambda js: js[jid]["status"] == "Running")[jid]["start"]
    # killed with its own script, as the OOM killer or a SIGKILL would: no job.end
    os.killpg(pgid, signal.SIGKILL)
    time.sleep(0.2)
    core.grund("--once", "-q")  # the refresh is not due yet: the state stays as recorded
    assert core.jobs(cwd=top)[jid]["status"] == "Running"
    core.grund("--once", "-q", "--refresh", "0")
    job_ = core.jobs(cwd=top)[jid]
    assert job_["status"] == "Failed" and job_["end"]
    assert "vanished" in core.read(os.path.join(job, "job.status"))


RETRY_SH = ('case "$1" in\n'
            '  slow) if [ -e tried ]; then echo second; else touch tried; echo first; sleep 300; fi ;;\n'
            '  flaky) if [ -e tried ]; then echo second; else touch tried; echo first; exit 4; fi ;;\n'
            '  fail) exit 3 ;;\n'
            '  *) echo "$1" ;;\nesac\n')


def grund_rounds(core, top, pred, timeout):
    """Rounds that also refresh every unfinished job."""
    return rounds_until(core, top, pred, timeout, "--once", "-q", "--refresh", "0", pause=0.5)


def test_on_slurm_a_failed_job_is_retried_and_held_jobs_follow(core, slurm):
    """Attempt 1 fails, grund retries it with twice the time limit, attempt 2
    ends Done.  Meanwhile a chain of three runs in order, a failed parent
    cancels its :ok child, and a child submitted after its parent ended runs.
    (A real time limit is retried on Grid Engine, whose h_rt takes seconds;
    Slurm's takes a minute and more.)"""
    core.newproj("p")
    top = core.project("p", grunter="", run_sh=RETRY_SH, files={"grunter.py": example(
        time="1", retry={"FAILED": {"time": "2x", "max": 3}})})
    flaky = core.submit("flaky", cwd=top)
    a = core.submit("a", cwd=top)
    b = core.grunt("submit", "--after", a, "b", "-m", "b", cwd=top).ok().out.strip()
    c = core.grunt("submit", "--after", f"{b}:ok", "c", "-m", "c", cwd=top).ok().out.strip()
    bad = core.grunt("submit", "--after", a, "fail", "-m", "bad", cwd=top).ok().out.strip()
    orphan = core.grunt("submit", "--after", bad, "x", "-m", "x", cwd=top).ok().out.strip()
    jobs = grund_rounds(core, top, lambda js: js[c]["status"] == "Done"
                        and js[orphan]["status"] == "Canceled", 60)
    assert [jobs[j]["status"] for j in (a, b, c)] == ["Done"] * 3
    assert jobs[a]["end"] <= jobs[b]["start"] and jobs[b]["end"] <= jobs[c]["start"]
    assert jobs[bad]["status"] == "Failed"     # (FAILED is retried: its attempts run out)
    late = core.grunt("submit", "--after", a, "late", "-m", "late", cwd=top).ok().out.strip()
    jobs = grund_rounds(core, top, lambda js: js[flaky]["status"] == "Done"
                        and js[late]["status"] == "Done", 60)
    first, second = jobs[flaky]["attempts"]   # every attempt that ended is recorded
    assert (first["state"], first["resources"]["time"], first["next"]["time"]) == (
        "FAILED", "1", "00:02:00")
    assert (second["state"], second["next"]) == ("COMPLETED", None)
    job = core.sjob(flaky)
    assert "#SBATCH --time=00:02:00" in core.read(os.path.join(job, "job.sbatch"))
    assert core.grunt("out", flaky, cwd=top).ok().out == "second\n"
    assert core.grunt("out", flaky, "--attempt", "1", cwd=top).ok().out == "first\n"
    assert "Done (attempt 2 of 3)" in core.grunt("jobs", cwd=top).ok().out


def test_on_grid_engine_a_timeout_is_retried_with_twice_the_limit(core, sge):
    """A real h_rt limit (3 s): attempt 1 runs into it, grund retries it with
    twice the limit (rounded up to a minute), attempt 2 ends Done; both attempts
    are recorded."""
    core.newproj("p")
    top = core.project("p", grunter="", run_sh=RETRY_SH, files={"grunter.py": example(
        runner="sge", time="0:03", retry={"TIMEOUT": {"time": "2x", "max": 3}})})
    slow = core.submit("slow", cwd=top)
    jobs = grund_rounds(core, top, lambda js: js[slow]["status"] == "Done", 60)
    first, second = jobs[slow]["attempts"]
    # (a scaled time is whole minutes, as Slurm takes it: 2 x 3 s is 1 minute)
    assert (first["state"], first["next"]["time"]) == ("TIMEOUT", "00:01:00")
    assert (second["state"], jobs[slow]["attempt"]) == ("COMPLETED", 2)
    job = core.sjob(slow)
    assert "#$ -l h_rt=60" in core.read(os.path.join(job, "job.sge"))
    assert core.read(os.path.join(job, "job.try1.status")).startswith("TIMEOUT")
    assert core.grunt("out", slow, cwd=top).ok().out == "second\n"
    assert core.grunt("out", slow, "--attempt", "1", cwd=top).ok().out == "first\n"
