"""lib/gruntlib/runner.py, settings.py, script.py: grunter's settings, the job script, the engine choice."""
from __future__ import annotations

import os
import subprocess

import pytest

from fixture_slurm import grunter_py
from lib.gruntlib import runner, script, slurm


@pytest.mark.parametrize("settings, message", [
    ({"mem": "4G"}, "unknown setting 'mem'"),
    ({"runner": "pbs"}, "runner must be one of auto, slurm, sge, local"),
    ({"queue": "all.q -l x"}, "setting queue must be one word"),
    ({"sge": ["-l a", None]}, "setting sge must be a list"),
    ({"array": "0-3; rm"}, "not an array spec"),
    ({"time": "1:00\n#SBATCH --x"}, "setting time must be one line"),
    ({"sbatch": ["--a", 3]}, "setting sbatch must be a list"),
])
def test_bad_settings(settings, message):
    with pytest.raises(runner.RunnerError, match=message):
        runner.check_settings(settings)


def test_job_script_quotes_args_and_keeps_prepare(tmp_path):
    jobdir = tmp_path / "wc" / "active" / "abc000001" / "it's a proj"
    jobdir.mkdir(parents=True)
    (jobdir / "job.args").write_text("a b\n'; echo foo\n\n")
    conf = runner.check_settings({"prepare": "echo building\nexport X=1",
                                  "command": ["python3", "my script.py"]})
    job = runner.Job(str(jobdir))
    text = script.job_script(job, conf, ["#SBATCH --time=5"])
    assert text.startswith("#!/bin/sh\n#SBATCH --time=5\n")
    assert "python3 'my script.py' 'a b' ''\"'\"'; echo foo' '' &\n" in text
    assert "{\necho building\nexport X=1\n} &&\n" in text
    subprocess.run(["sh", "-n"], input=text, text=True, check=True)


def test_engine_choice(tmp_path, monkeypatch):
    job = runner.Job(str(tmp_path))
    conf = runner.check_settings({})
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    assert runner.engine_for(job, conf, "submit").__name__.endswith(".local")
    monkeypatch.setattr(runner.shutil, "which", lambda name: "/usr/bin/" + name)
    assert runner.engine_for(job, conf, "submit").__name__.endswith(".slurm")
    (tmp_path / "job.pid").write_text("1\n")
    assert runner.engine_for(job, conf, "status").__name__.endswith(".local")


def test_jobcomp_file_read_backwards(tmp_path, monkeypatch):
    """Lines as slurmctld writes them; an array's last task keeps the master id."""
    common = ("UserId=u(1) GroupId=u(1) Name=abc000001 Partition=debug TimeLimit=1 "
              "StartTime=2024-05-01T10:00:00 EndTime=2024-05-01T10:01:00 NodeList=vm "
              "WorkDir=/tmp/a dir with spaces")
    lines = [f"JobId=7 {common} JobState=COMPLETED ExitCode=0:0",
             f"JobId=8 {common} JobState=TIMEOUT ExitCode=0:0",
             f"JobId=10 {common} JobState=FAILED ArrayJobId=9 ArrayTaskId=0 ExitCode=5:0",
             f"JobId=9 {common} JobState=COMPLETED ArrayJobId=9 ArrayTaskId=1 ExitCode=0:0",
             f"JobId=7 {common} JobState=FAILED ExitCode=3:0"]   # a reused id: newest wins
    path = tmp_path / "jobcomp.txt"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(slurm, "_jobcomp_file", lambda: str(path))
    monkeypatch.setattr(slurm, "JOBCOMP_CHUNK", 50)    # lines span reads
    got = slurm._jobcomp("7", [None])[None]
    assert (got.state, got.exitcode) == ("FAILED", 3)
    got = slurm._jobcomp("8", [None])[None]
    assert (got.state, got.exitcode) == ("TIMEOUT", None)       # 0:0 is wrong for TIMEOUT
    tasks = slurm._jobcomp("9", [0, 1])
    assert {t: (o.state, o.exitcode) for t, o in tasks.items()} == {0: ("FAILED", 5),
                                                                  1: ("COMPLETED", 0)}
    assert tasks[0].end == slurm._timestamp("2024-05-01T10:01:00") is not None


def test_unparsable_sbatch_output_fails_the_job(runner_job):
    """sbatch exits 0 without 'Submitted batch job N' and the job is not in
    the queue: a fake sbatch, since real Slurm never does this."""
    job = runner_job({"grunter.py": grunter_py(runner="slurm"), "run.sh": "true\n"})
    shim = os.path.join(job.home, "shim")
    os.mkdir(shim)
    for name, body in (("sbatch", "echo 'sbatch: queued, maybe'"), ("squeue", "true")):
        with open(os.path.join(shim, name), "w") as f:
            f.write(f"#!/bin/sh\n{body}\n")
        os.chmod(os.path.join(shim, name), 0o755)
    p = job.grunter("submit", env={"PATH": f"{shim}:{os.environ['PATH']}"}, check=False)
    assert p.returncode == 1
    assert "no 'Submitted batch job N' in sbatch's output" in job.read("job.error")
    assert job.read("job.status") == "FAILED"
