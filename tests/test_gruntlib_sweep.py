"""The Slurm engine of a sweep where the real test cluster cannot go: a user's job
limit (MaxSubmitJobs needs slurmdbd).  The engine runs for real; in front of PATH
an ``sbatch`` that refuses the second call as Slurm does at the limit, once, and
records every call; ``scontrol`` says MaxArraySize=2; ``squeue`` knows nothing."""
from __future__ import annotations

import json
import os

from fixture_slurm import grunter_py

FAKE = {
    "sbatch": 'echo "$GRUNT_TASK_BASE $*" >> "$CALLS"\n'
              'n=$(wc -l < "$CALLS")\n'
              'if [ "$n" = 2 ]; then\n'
              '  echo "sbatch: error: QOSMaxSubmitJobPerUserLimit" >&2\n'
              '  echo "sbatch: error: Batch job submission failed: Job violates accounting/QOS '
              'policy (job submit limit, user\'s size and/or time limits)" >&2; exit 1\n'
              'fi\necho "Submitted batch job $((100 + n))"\n',
    "scontrol": 'echo "MaxArraySize            = 2"\n',
    "squeue": "exit 0\n",
}


def test_a_chunk_refused_at_the_job_limit_waits_for_room(runner_job, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, body in FAKE.items():
        (bindir / name).write_text("#!/bin/sh\n" + body)
        (bindir / name).chmod(0o755)
    calls = tmp_path / "calls"
    runs = [{"task": i, "values": {"n": str(i)}, "repeat": 0, "args": ["--n", str(i)]}
            for i in range(5)]
    sweep = {"version": 1, "params": ["n"], "style": "--name value", "fixed": [],
             "parallel": None, "runs": runs}
    job = runner_job({"grunter.py": grunter_py(runner="slurm"), "run.sh": "true\n",
                      "job.sweep": json.dumps(sweep)})
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "CALLS": str(calls)}
    p = job.grunter("submit", env=env)
    assert "waiting for room for tasks 2..4" in p.stderr and "QOSMaxSubmit" in p.stderr
    assert job.read("job.chunks") == "0 2 101" and job.read("job.slurmid") == "101"
    job.grunter("status", env=env)           # room again: the rest goes out
    assert job.read("job.chunks").splitlines() == ["0 2 101", "2 2 103", "4 1 104"]
    lines = calls.read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["0", "2", "2", "4"]
    assert [ln.split()[2] for ln in lines] == ["--array=0-1", "--array=0-1", "--array=0-1",
                                              "--array=0-0"]
    job.grunter("status", env=env)           # nothing more to submit
    assert len(calls.read_text().splitlines()) == 4
