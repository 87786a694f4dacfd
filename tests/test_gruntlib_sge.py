"""The Grid Engine engine against a real single-node Son of Grid Engine cell.

Each job is a real qsub: states come from qstat while the job is queued and
from qacct (and the job's own files) once it has left, as a grund round sees
them.  The parsers are also checked on the verbatim output formats.
"""
import os
import subprocess
import sys

import pytest

from fixture_slurm import grunter_py, wait_until
from lib.gruntlib import sge
from lib.gruntlib.jobdir import RunnerError

QACCT_TIMEOUT = """==============================================================
qname        all.q               
hostname     vm                  
jobname      hrtjob              
jobnumber    8                   
taskid       undefined           
end_time     Wed Dec  2 01:56:44 2026
failed       37  : qmaster enforced h_rt, h_cpu, or h_vmem limit
exit_status  137                  (Killed)
"""


def gone_from_qstat(number: str) -> bool:
    return subprocess.run(["qstat", "-j", number], capture_output=True).returncode != 0


def until_gone(job) -> str:
    number = job.read("job.sgeid")
    wait_until(lambda: gone_from_qstat(number), timeout=40, what=f"job {number} to leave qstat")
    return number


def final_status(job, state: str) -> str:
    """job.status once the unit's end is known: a job killed by Grid Engine (qdel, h_rt)
    records no end itself, and its qacct record may come up to ACCOUNTING_WAIT late."""
    return job.status_until(state, timeout=sge.ACCOUNTING_WAIT + 15)


# -- the settings and formats, without a cell ----------------------------------
def test_time_settings_become_h_rt_seconds():
    assert [sge.h_rt(t) for t in ("30", "0:05", "1:30:00", "1-00:00:00", "2-3", 45)] == [
        1800, 5, 5400, 86400, 183600, 2700]
    with pytest.raises(RunnerError, match="not a time"):
        sge.h_rt("soon")


def test_arrays_are_one_range_shifted_to_start_at_1():
    assert sge.array_plan("0-3") == ("1-4:1", 1, None)
    assert sge.array_plan("1-9:2%3") == ("1-9:2", 0, "3")
    with pytest.raises(RunnerError, match="one range"):
        sge.array_plan("1,5,7")


def test_qacct_records_by_task_and_their_meaning(tmp_path):
    from lib.gruntlib.jobdir import JobDir
    job = JobDir(str(tmp_path))
    rec = sge.parse_qacct(QACCT_TIMEOUT)[None]
    out = sge.accounted(job, rec, None)
    assert (out.state, out.exitcode) == ("TIMEOUT", 137)
    assert out.end and out.end.endswith("UTC")
    qdel = dict(rec, failed="100 : assumedly after job")
    assert sge.accounted(job, qdel, None).state == "CANCELLED"
    segv = dict(rec, failed="100 : assumedly after job", exit_status="139 (Segmentation fault)")
    assert (sge.accounted(job, segv, None).state, sge.accounted(job, segv, None).exitcode) == ("FAILED", 139)
    io = dict(rec, failed="26  : opening input/output file", exit_status="0")
    assert sge.accounted(job, io, None).reason == "opening input/output file"
    tasks = sge.parse_qacct(QACCT_TIMEOUT.replace("undefined", "3") * 2)
    assert list(tasks) == [3]


# -- a real cell ----------------------------------------------------------------
def test_done_with_args_and_output(sge, runner_job, runner_user):
    job = runner_job({"grunter.py": grunter_py(runner="sge", time="10"),
                      "run.sh": 'printf "<%s>\\n" "$@"\necho err >&2\n'},
                     args=["a b", "$HOME"], user=runner_user)
    assert job.grunter("submit").stdout.startswith("Your job ")
    assert job.read("job.sgeid").isdigit()
    script = job.read("job.sge")
    assert "#$ -N abc000001" in script and "#$ -l h_rt=600" in script
    assert job.status_until(("COMPLETED", "FAILED")) == "COMPLETED"
    assert job.read("job.exitcode") == "0"
    assert job.read("job.out").splitlines() == ["<a b>", "<$HOME>", "err"]
    assert job.read("job.end") >= job.read("job.start")


def test_exit_code_3_is_failed_also_after_leaving_qstat(sge, runner_job, runner_user):
    job = runner_job({"grunter.py": grunter_py(runner="sge"), "run.sh": "exit 3\n"},
                     user=runner_user)
    job.grunter("submit")
    until_gone(job)
    assert job.status() == "FAILED NonZeroExitCode"
    assert job.read("job.exitcode") == "3"


def test_cancel_and_qdel_by_hand_are_canceled(sge, runner_job, runner_user):
    ours = runner_job({"grunter.py": grunter_py(runner="sge"), "run.sh": "sleep 300\n"},
                      user=runner_user)
    theirs = runner_job({"grunter.py": grunter_py(runner="sge"), "run.sh": "sleep 300\n"},
                        user=runner_user, jobid="abc000002", base=ours.home)
    for job in (ours, theirs):
        job.grunter("submit")
    for job in (ours, theirs):
        wait_until(lambda: job.has("job.start"), timeout=30, what="job.start")
    ours.grunter("cancel")
    assert ours.has("job.canceled")
    subprocess.run(theirs.as_user(["qdel", theirs.read("job.sgeid")]), check=True, capture_output=True)
    for job in (ours, theirs):
        until_gone(job)
        assert final_status(job, "CANCELLED") == "CANCELLED"
        assert job.read("job.exitcode") == "137"     # qdel is SIGKILL: qacct's exit_status
        assert job.has("job.end")


def test_h_rt_is_timeout_known_from_qacct(sge, runner_job, runner_user):
    job = runner_job({"grunter.py": grunter_py(runner="sge", time="0:03"), "run.sh": "sleep 60\n"},
                     user=runner_user)
    job.grunter("submit")
    assert "#$ -l h_rt=3" in job.read("job.sge")
    until_gone(job)
    assert final_status(job, "TIMEOUT") == "TIMEOUT"
    assert job.read("job.exitcode") == "137"


def test_array_of_4_with_a_failing_task(sge, runner_job, runner_user):
    # Grid Engine numbers the tasks 1-4; the job's files use the array's own 0-3
    job = runner_job({"grunter.py": grunter_py(runner="sge", array="0-3"),
                      "run.sh": 'T=$((SGE_TASK_ID - 1))\necho "task $T"\n[ "$T" != 2 ] || exit 5\n'},
                     user=runner_user)
    job.grunter("submit")
    assert "#$ -t 1-4:1" in job.read("job.sge")
    assert job.status_until(("COMPLETED", "FAILED"), timeout=60) == "FAILED 3 COMPLETED, 1 FAILED"
    assert [job.read(f"job.{t}.status") for t in range(4)] == [
        "COMPLETED", "COMPLETED", "FAILED NonZeroExitCode", "COMPLETED"]
    assert job.read("job.2.exitcode") == "5"
    assert job.read("job.exitcode") == "5"
    assert [job.read(f"job.{t}.out") for t in range(4)] == [f"task {t}" for t in range(4)]


def test_never_submits_twice(sge, runner_job, runner_user):
    """qsub ran but grunter died before recording the number: submit finds it
    by name and directory; a job of that name elsewhere is not taken for it."""
    name = "abc000777"
    files = {"grunter.py": grunter_py(runner="sge", sge=["-h"]), "run.sh": "true\n"}
    job = runner_job(files, user=runner_user, jobid=name)
    other = runner_job(files, user=runner_user, proj="other", jobid=name, base=job.home)
    numbers = []
    try:
        for j in (other, job):
            p = subprocess.run(j.as_user(["qsub", "-terse", "-h", "-N", name, "-wd", j.path,
                                          "-b", "y", "true"]),
                               capture_output=True, text=True, check=True, cwd=j.path)
            numbers.append(p.stdout.strip())
        assert "already submitted" in job.grunter("submit").stdout
        assert job.read("job.sgeid") == numbers[1]
        assert job.grunter("submit").returncode == 0
        assert job.read("job.sgeid") == numbers[1]
    finally:
        subprocess.run(["qdel", *numbers], capture_output=True)


def test_a_job_that_cannot_start_is_failed_with_its_reason(sge, runner_job, runner_user):
    job = runner_job({"grunter.py": grunter_py(runner="sge", sge=["-o /nonexistent/dir/out"]),
                      "run.sh": "true\n"}, user=runner_user)
    job.grunter("submit")
    status = job.status_until("FAILED", timeout=30)
    assert "can't open output file" in status, status
    until_gone(job)                                # and it does not sit in Eqw for ever
    assert job.status() == status


def test_queue_shows_the_users_jobs_and_the_slots(sge, runner_job, runner_user):
    job = runner_job({"grunter.py": grunter_py(runner="sge", sge=["-h"]), "run.sh": "true\n"},
                     user=runner_user)
    job.grunter("submit")
    try:
        out = job.grunter("queue").stdout
        assert "abc000001" in out and "hqw" in out
        assert "CLUSTER QUEUE" in out and "all.q" in out
    finally:
        subprocess.run(["qdel", job.read("job.sgeid")], capture_output=True)


def test_auto_picks_grid_engine_without_sbatch(sge, runner_job, tmp_path):
    # a cluster with Grid Engine and no Slurm: every tool of /usr/bin but sbatch
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python3")
    for name in os.listdir("/usr/bin"):
        if name != "sbatch" and not (bin_dir / name).exists():
            os.symlink(os.path.join("/usr/bin", name), bin_dir / name)
    job = runner_job({"grunter.py": grunter_py(), "run.sh": "true\n"})
    job.grunter("submit", env={"PATH": str(bin_dir)})
    assert job.has("job.sgeid") and not job.has("job.slurmid")
    assert job.status_until(("COMPLETED", "FAILED")) == "COMPLETED"
