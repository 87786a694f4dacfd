"""The local runner: a job as a background process, with the states and exit
codes it would have under Slurm.  No scheduler needed; as root and as an
ordinary user."""
from __future__ import annotations

import os
import signal

from fixture_slurm import grunter_py, isolation_files, wait_until
from lib.gruntlib import states

FINAL = tuple(states.FINAL)


def local(**settings) -> str:
    return grunter_py(runner="local", **settings)


def group_gone(pgid: int) -> bool:
    """No process of the group is left, zombies aside."""
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return False
    return True


def test_done(runner_job, runner_user):
    job = runner_job({"grunter.py": local(), "run.sh": 'echo "hi $*"\necho made > r.txt\n'},
                   args=["a b", "c"], user=runner_user)
    assert job.grunter("submit").stdout.startswith("started process ")
    assert job.read("job.pid").isdigit() and job.has("job.sh")
    wait_until(lambda: job.has("job.end"), what="job.end")
    assert job.status() == "COMPLETED"
    assert job.read("job.exitcode") == "0"
    assert job.read("job.out") == "hi a b c"
    assert job.grunter("results").stdout == "r.txt\n"
    assert os.path.exists(os.path.join(job.wc, ".git", "grunt-changed"))


def test_exit_code_3(runner_job, runner_user):
    job = runner_job({"grunter.py": local(), "run.sh": "exit 3\n"}, user=runner_user)
    job.grunter("submit")
    assert job.status_until(FINAL) == "FAILED NonZeroExitCode"
    assert job.read("job.exitcode") == "3"


def test_running_then_cancelled(runner_job, runner_user):
    job = runner_job({"grunter.py": local(), "run.sh": "sleep 300\n"}, user=runner_user)
    job.grunter("submit")
    wait_until(lambda: job.has("job.start"), what="job.start")
    assert job.status() == "RUNNING"
    assert job.grunter("cancel").stdout == "CANCELLED\n"
    assert job.read("job.status") == "CANCELLED"
    assert job.has("job.canceled")
    assert job.read("job.exitcode") == "143"
    assert group_gone(int(job.read("job.pid")))
    assert job.status() == "CANCELLED"
    assert "already ended" in job.grunter("cancel").stderr


def test_cancel_kills_what_ignores_sigterm(runner_job, runner_user):
    job = runner_job({"grunter.py": local(kill_wait=0.3),
                    "run.sh": "trap '' TERM\nwhile :; do sleep 0.1; done\n"}, user=runner_user)
    job.grunter("submit")
    wait_until(lambda: job.has("job.start"), what="job.start")
    job.grunter("cancel")
    assert job.read("job.status") == "CANCELLED"
    assert job.has("job.end")
    assert group_gone(int(job.read("job.pid")))


def test_vanished_process_is_failed(runner_job, runner_user):
    job = runner_job({"grunter.py": local(), "run.sh": "sleep 300\n"}, user=runner_user)
    job.grunter("submit")
    wait_until(lambda: job.has("job.start"), what="job.start")
    pid = int(job.read("job.pid"))
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: group_gone(pid), what="the killed job")
    assert job.status() == "FAILED process vanished without recording an exit code"
    assert job.has("job.end") and not job.has("job.exitcode")


def test_array_runs_tasks_in_turn(runner_job, runner_user):
    run = 'echo "task $SLURM_ARRAY_TASK_ID"\n[ "$SLURM_ARRAY_TASK_ID" != 1 ] || exit 4\n'
    job = runner_job({"grunter.py": local(array="0-2"), "run.sh": run}, user=runner_user)
    job.grunter("submit")
    assert job.status_until(FINAL) == "FAILED 2 COMPLETED, 1 FAILED"
    assert [job.read(f"job.{t}.out") for t in range(3)] == ["task 0", "task 1", "task 2"]
    assert [job.read(f"job.{t}.status") for t in range(3)] == [
        "COMPLETED", "FAILED NonZeroExitCode", "COMPLETED"]
    assert job.read("job.exitcode") == "4"


def test_project_lib_wins_and_nothing_leaks(runner_job, runner_user):
    job = runner_job(isolation_files("local"), user=runner_user)
    job.grunter("submit")
    assert job.status_until(FINAL) == "COMPLETED", job.read("job.out")
    assert job.read("job.out") == "project None None"
    assert job.grunter("results").stdout == ""


def test_unknown_command_is_a_usage_error(runner_job):
    job = runner_job({"grunter.py": local()})
    p = job.grunter("frobnicate", check=False)
    assert p.returncode == 2
    assert "unknown command 'frobnicate'" in p.stderr


def test_misspelt_setting_fails_the_submission(runner_job):
    job = runner_job({"grunter.py": local(mem="4G"), "run.sh": "true\n"})
    p = job.grunter("submit", check=False)
    assert p.returncode == 1
    assert "unknown setting 'mem'" in job.read("job.error")
    assert job.read("job.status") == "FAILED"
    assert not job.has("job.pid")


def test_result_patterns_stay_inside_the_job(runner_job):
    job = runner_job({"grunter.py": local(results=["out/*.csv", "../*", "link", "plots"]),
                    "run.sh": "true\n"})
    os.makedirs(job.file("out"))
    os.makedirs(job.file("plots/a"))
    for name in ("out/x.csv", "out/y.txt", "plots/a/p.png"):
        open(job.file(name), "w").close()
    os.symlink("/etc/passwd", job.file("link"))
    p = job.grunter("results")
    assert p.stdout.split() == ["out/x.csv", "plots/a/p.png"]
    assert "outside the job directory: link" in p.stderr
    assert "outside the job directory: ../proj" in p.stderr


def test_queue_says_there_is_no_scheduler(runner_job):
    job = runner_job({"grunter.py": local()})
    assert job.grunter("queue").stdout.startswith("no scheduler: ")
