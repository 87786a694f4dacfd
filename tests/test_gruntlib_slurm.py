"""The Slurm runner against a real single-node Slurm, as root and as an ordinary user.

grunter runs exactly as grund runs it (runtime.grunter_argv in the job
directory).  The one slow test (a real time limit: Slurm counts in minutes and
checks every 30 s) is submitted when this module starts and checked last, so it
runs alongside the others.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from fixture_slurm import (REPO, TESTS, JobDir, build_job, grunter_py, isolation_files, new_base,
                           squeue_ids, wait_until)
from lib.gruntlib import states

FINAL = tuple(states.FINAL)

# A program that runs until the test creates the file "go".
WAIT_FOR_GO = "while [ ! -e go ]; do sleep 0.1; done\n"


def example_grunter() -> str:
    with open(os.path.join(REPO, "grunter_example.py"), encoding="utf-8") as f:
        return f.read()


def slurm_state(slurmid: str) -> str | None:
    """squeue's state of a job, None once Slurm has purged it (after MinJobAge)."""
    p = subprocess.run(["squeue", "-h", "-t", "all", "-j", slurmid, "-o", "%T"],
                       capture_output=True, text=True)
    return p.stdout.split()[0] if p.returncode == 0 and p.stdout.split() else None


def wait_purged(slurmid: str, timeout: float = 40) -> None:
    wait_until(lambda: slurm_state(slurmid) is None, timeout=timeout,
               interval=0.5, what=f"Slurm to forget job {slurmid}")


def sbatch_by_hand(job: JobDir, *options: str) -> str:
    p = subprocess.run(job.as_user(["sbatch", "--parsable", *options]), cwd=job.path,
                       capture_output=True, text=True, check=True)
    return p.stdout.strip().split(";")[0]


@pytest.fixture(scope="module")
def timeout_job(slurm, slurm_user):
    """A job past its time limit, submitted first so that its minute and a half
    overlaps the other tests."""
    base = new_base()
    job = build_job(base, {"grunter.py": grunter_py(time="1", runner="slurm"),
                           "run.sh": "sleep 300\n"}, user=slurm_user, jobid="abc000999")
    job.grunter("submit")
    yield job
    slurmid = job.read("job.slurmid")
    subprocess.run(["scancel", slurmid])
    # its script records its end while being cancelled: let it, then clean up
    wait_until(lambda: slurm_state(slurmid) not in ("RUNNING", "COMPLETING", "PENDING"),
               what="the cancelled job")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _start_timeout_job_early(timeout_job):
    pass


def test_done_with_args_output_and_wakeups(slurm, runner_job, runner_user):
    args = ["a b", "it's", "'; echo foo", "$HOME", "*", ""]
    job = runner_job({"grunter.py": example_grunter(),
                    "run.sh": 'printf "<%s>\\n" "$@" > args.txt\necho hello\n' + WAIT_FOR_GO},
                   args=args, user=runner_user)
    os.mkfifo(job.fifo)
    if runner_user:
        shutil.chown(job.fifo, runner_user, runner_user)
    fifo = os.open(job.fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert job.grunter("submit").stdout.startswith("Submitted batch job ")
        assert job.read("job.slurmid").isdigit()
        assert "#SBATCH --job-name=abc000001" in job.read("job.sbatch")
        assert job.status_until("RUNNING") == "RUNNING"
        wait_until(lambda: job.has("job.start"), what="job.start")
        job.touch("go")
        assert job.status_until(("COMPLETED", "FAILED")) == "COMPLETED"
        assert job.read("job.exitcode") == "0"
        assert job.read("job.end") >= job.read("job.start")
        assert job.read("job.out") == "hello"
        assert job.read("args.txt").splitlines() == [f"<{a}>" for a in args]
        assert job.grunter("results").stdout.split() == ["args.txt", "go"]
        assert os.path.exists(os.path.join(job.wc, ".git", "grunt-changed"))
        assert len(os.read(fifo, 100)) >= 2      # a poke after job.start and after job.end
    finally:
        os.close(fifo)


def test_exit_code_3_is_failed(slurm, runner_job, runner_user):
    job = runner_job({"grunter.py": grunter_py(runner="slurm"), "run.sh": "echo bad >&2\nexit 3\n"},
                   user=runner_user)
    job.grunter("submit")
    assert job.status_until(("COMPLETED", "FAILED")) == "FAILED NonZeroExitCode"
    assert job.read("job.exitcode") == "3"
    assert job.read("job.out") == "bad"


def test_cancel(slurm, runner_job, runner_user):
    job = runner_job({"grunter.py": grunter_py(), "run.sh": "sleep 300\n"}, user=runner_user)
    job.grunter("submit")
    wait_until(lambda: job.has("job.start"), what="job.start")
    job.grunter("cancel")
    assert job.has("job.canceled")
    assert job.status_until("CANCELLED") == "CANCELLED"
    assert job.read("job.exitcode") == "143"       # the program's SIGTERM, recorded by the script
    assert job.has("job.end")


def test_killed_before_the_script_could_record(slurm, runner_job):
    """A program that ignores SIGTERM holds the script until Slurm's SIGKILL
    (KillWait=5 s): status fills in job.end and the exit code from scontrol."""
    job = runner_job({"grunter.py": grunter_py(),
                    "run.sh": "trap '' TERM\nwhile :; do sleep 0.2; done\n"})
    job.grunter("submit")
    wait_until(lambda: job.has("job.start"), what="job.start")
    job.grunter("cancel")
    assert job.status_until("CANCELLED", timeout=20) == "CANCELLED"
    assert job.has("job.end")
    assert job.read("job.exitcode") == "137"


@pytest.mark.parametrize("setting, message", [({"partition": "nosuch"}, "Invalid partition"),
                                              ({"memory": "100T"}, "Memory specification")])
def test_rejected_by_sbatch(slurm, runner_job, runner_user, setting, message):
    job = runner_job({"grunter.py": grunter_py(**setting), "run.sh": "true\n"}, user=runner_user)
    p = job.grunter("submit", check=False)
    assert p.returncode == 1
    assert "grunter: error: sbatch failed: sbatch: error: " in p.stderr
    assert message in job.read("job.error")
    assert job.read("job.status") == "FAILED"
    assert not job.has("job.slurmid")
    assert job.status() == "FAILED"


def test_array_with_a_failing_task(slurm, runner_job, runner_user):
    run = 'echo "task $SLURM_ARRAY_TASK_ID"\n[ "$SLURM_ARRAY_TASK_ID" != 2 ] || exit 5\n'
    job = runner_job({"grunter.py": grunter_py(array="0-3"), "run.sh": run}, user=runner_user)
    job.grunter("submit")
    assert job.read("job.array") == "0-3"
    assert job.status_until(FINAL) == "FAILED 3 COMPLETED, 1 FAILED"
    for task in range(4):
        assert job.read(f"job.{task}.out") == f"task {task}"
        assert job.has(f"job.{task}.start") and job.has(f"job.{task}.end")
    assert job.read("job.2.status") == "FAILED NonZeroExitCode"
    assert job.read("job.2.exitcode") == "5"
    assert [job.read(f"job.{t}.status") for t in (0, 1, 3)] == ["COMPLETED"] * 3
    assert job.read("job.exitcode") == "5"
    assert job.has("job.start") and job.has("job.end")
    assert "task 0" in job.grunter("status").stdout


def test_array_tasks_prepare_one_at_a_time(slurm, runner_job):
    prepare = "echo in >> prepare.log\nsleep 0.3\necho out >> prepare.log\nexport WHO=built"
    job = runner_job({"grunter.py": grunter_py(array="0-2", prepare=prepare),
                      "run.sh": 'echo "$WHO"\n'})
    job.grunter("submit")
    assert job.status_until(FINAL) == "COMPLETED"
    assert job.read("prepare.log").split() == ["in", "out"] * 3
    assert [job.read(f"job.{t}.out") for t in range(3)] == ["built"] * 3


def test_states_right_after_slurm_forgot_the_jobs(slurm, runner_job, runner_user):
    """No status while the jobs ran: after MinJobAge the job files and the jobcomp
    file must still tell COMPLETED, FAILED 3, CANCELLED (by scancel outside grunt)
    and the array's tasks."""
    first = runner_job({"grunter.py": grunter_py(), "run.sh": "true\n"}, user=runner_user)

    def job(jobid: str, files: dict[str, str]) -> JobDir:
        return runner_job(files, user=runner_user, jobid=jobid, base=first.home)

    failed = job("abc000002", {"grunter.py": grunter_py(), "run.sh": "exit 3\n"})
    killed = job("abc000003", {"grunter.py": grunter_py(), "run.sh": "sleep 300\n"})
    array = job("abc000004", {"grunter.py": grunter_py(array="0-2"),
                              "run.sh": '[ "$SLURM_ARRAY_TASK_ID" != 1 ] || exit 4\n'})
    for j in (first, failed, killed, array):
        j.grunter("submit")
    wait_until(lambda: killed.has("job.start"), what="job.start")
    subprocess.run(["scancel", killed.read("job.slurmid")], check=True)
    for j in (first, failed, killed, array):
        wait_purged(j.read("job.slurmid"))
    assert first.status() == "COMPLETED"
    assert failed.status() == "FAILED"
    assert failed.read("job.exitcode") == "3"
    assert killed.status() == "CANCELLED"
    assert not killed.has("job.canceled")
    assert array.status() == "FAILED 2 COMPLETED, 1 FAILED"
    assert [array.read(f"job.{t}.status") for t in range(3)] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert array.read("job.1.exitcode") == "4"


def test_never_submits_twice(slurm, runner_job, runner_user):
    """sbatch ran but grunter died before recording the id: submit again finds it.
    A job of the same name in another project's directory is not taken for it."""
    files = {"grunter.py": grunter_py(sbatch=["--hold"]), "run.sh": "true\n"}
    name = "abc000777"
    job = runner_job(files, user=runner_user, jobid=name)
    other = runner_job(files, user=runner_user, proj="other", jobid=name, base=job.home)
    ids = [sbatch_by_hand(other, "--hold", "-J", name, "--wrap", "true"),
           sbatch_by_hand(job, "--hold", "-J", name, "--wrap", "true")]
    try:
        out = job.grunter("submit").stdout
        assert job.read("job.slurmid") == ids[1]
        assert "already submitted" in out
        third = runner_job(files, user=runner_user, proj="third", jobid=name, base=job.home)
        third.grunter("submit")
        ids.append(third.read("job.slurmid"))
        assert len(set(ids)) == 3
        assert squeue_ids(name, runner_user or "root") == sorted(ids)
        assert job.grunter("submit").returncode == 0
        assert squeue_ids(name, runner_user or "root") == sorted(ids)
    finally:
        subprocess.run(["scancel", *ids])


def test_one_squeue_for_all_jobs_of_a_round(slurm, runner_job, runner_user):
    files = {"grunter.py": grunter_py(sbatch=["--hold"]), "run.sh": "true\n"}
    jobs = [runner_job(files, user=runner_user)]
    jobs += [runner_job(files, user=runner_user, jobid=f"abc00000{i}", base=jobs[0].home) for i in (2, 3, 4)]
    for j in jobs:
        j.grunter("submit")
    shim = os.path.join(jobs[0].home, "shim")
    os.mkdir(shim)
    count = os.path.join(shim, "count")
    with open(os.path.join(shim, "squeue"), "w") as f:
        f.write(f'#!/bin/sh\necho "$*" >> {count}\nexec {shutil.which("squeue")} "$@"\n')
    os.chmod(os.path.join(shim, "squeue"), 0o755)
    open(count, "w").close()
    os.chmod(count, 0o666)
    path = {"PATH": f"{shim}:{os.environ['PATH']}"}
    try:
        assert [j.status(env=path) for j in jobs] == ["PENDING JobHeldUser"] * 4
        with open(count) as f:
            assert len(f.read().splitlines()) == 1
    finally:
        subprocess.run(["scancel", *(j.read("job.slurmid") for j in jobs)])


def test_project_lib_wins_and_nothing_leaks(slurm, runner_job, runner_user):
    """A project with its own lib/ package: grunter and the job import it, and
    the job's environment knows nothing of gruntlib."""
    job = runner_job(isolation_files("slurm"), user=runner_user)
    job.grunter("submit")
    assert job.status_until(FINAL) == "COMPLETED", job.read("job.out")
    assert job.read("job.out") == "project None None"
    assert job.grunter("results").stdout == ""


def test_queue_shows_the_users_jobs_and_the_partition(slurm, runner_job, runner_user):
    job = runner_job({"grunter.py": grunter_py(sbatch=["--hold"], partition="debug"),
                      "run.sh": "true\n"}, user=runner_user, jobid="abc000555")
    job.grunter("submit")
    try:
        out = job.grunter("queue").stdout
        assert "abc00055" in out          # squeue cuts names to 8 characters
        assert "PARTITION" in out and "debug" in out
    finally:
        subprocess.run(["scancel", job.read("job.slurmid")])


def test_legacy_grunter_still_works(slurm, runner_job, runner_user):
    with open(os.path.join(TESTS, "data", "legacy_grunter.py"), encoding="utf-8") as f:
        legacy = f.read()
    compute = "import sys\nopen('out.csv', 'w').write(','.join(sys.argv[1:]))\n"
    job = runner_job({"grunter.py": legacy, "compute.py": compute}, args=["x y", "z"], user=runner_user)
    job.grunter("submit")
    assert job.read("job.slurmid").isdigit()
    wait_until(lambda: job.has("job.end"), what="job.end")
    assert job.read("job.exitcode") == "0"
    assert job.read("out.csv") == "x y,z"
    assert job.grunter("results").stdout == "out.csv\n"
    job.grunter("status")
    assert job.read("job.status") in ("COMPLETING", "COMPLETED")


def test_timeout_known_after_slurm_forgot_it(timeout_job):
    """Last in this module: the job submitted at its start has run into its
    one-minute limit (enforced up to 30 s late); no status until Slurm purged it."""
    job = timeout_job
    slurmid = job.read("job.slurmid")
    wait_until(lambda: slurm_state(slurmid) in ("TIMEOUT", None), timeout=150, interval=1,
               what="the time limit")
    wait_purged(slurmid)
    assert job.status() == "TIMEOUT"
    assert job.read("job.exitcode") == "143"
    assert job.has("job.end")
