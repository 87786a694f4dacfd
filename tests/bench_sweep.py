"""make bench, the sweep targets: a 1,000-run sweep against one job of the same project.

* submitting it costs at most 2x submitting one job (median of 3 each);
* grund turns it into at most ceil(1000 / MaxArraySize) sbatch calls: the Slurm
  runner runs for real, with ``sbatch``/``scontrol``/``squeue`` in front of PATH
  that record the calls and answer as Slurm would (MaxArraySize=300), so no
  1,000 tasks run on this machine;
* ``grunt jobs`` on a project holding the sweep stays within 1.2x of the same
  project without it (median of 9, interleaved, after one listing);
* the jobs repo grows by less than 1 MiB for the sweep of a 10 MB project.

``python3 tests/bench_sweep.py`` runs it alone (local transport, the checkout's
grunt and grund).
"""
from __future__ import annotations

import math
import os
import shutil
import statistics
import sys
import tempfile

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS)

import bench_scale as B  # noqa: E402

MAX_ARRAY = 300
RUNS = 1000
GRUNTER = "import sys\nfrom gruntlib import runner\nsys.exit(runner.main({'runner': 'slurm', 'time': '1:00:00'}))\n"
FAKE = {
    "sbatch": 'echo "$*" >> "$HOME/sbatch.calls"\nn=$(wc -l < "$HOME/sbatch.calls")\n'
              'echo "Submitted batch job $((1000 + n))"\n',
    "scontrol": f'echo "MaxArraySize            = {MAX_ARRAY}"\n',
    "squeue": "exit 0\n",
}


def fake_slurm(root: str) -> str:
    d = os.path.join(root, "fakeslurm")
    os.makedirs(d)
    for name, body in FAKE.items():
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
    return d


def bench_sweep(h: B.Homes, fake: str) -> None:
    files = {f"data/blob{i}.bin": os.urandom(100 * 1024) for i in range(100)}   # 10 MB
    files["run.sh"] = b"true\n"
    tops = {name: h.project(name, files, grunter=GRUNTER) for name in ("swp", "one")}
    srv = dict(h.env(h.srv), PATH=f"{fake}:{os.environ['PATH']}")
    bare = os.path.join(h.srv, "grunt", "bb", B.SERVER, "swp", "jobs.git")
    top = tops["swp"]
    h.client("submit", "first", "-m", "first", cwd=top)
    B.sh([h.grund, "--once", "-q"], cwd=h.srv, env=srv)
    before = B.pack_kib(bare, h.env(h.srv))
    one = statistics.median(B.timed([h.grunt, "submit", str(i), "-m", "one"], cwd=top,
                                    env=h.env(h.cli)) for i in range(3))
    sweep = statistics.median(B.timed([h.grunt, "sweep", f"n=1..{RUNS}", "--yes", "-m", "many"],
                                      cwd=top, env=h.env(h.cli)) for _ in range(3))
    B.row(f"submit a {RUNS}-run sweep vs one job, 10 MB project", sweep, one, "s",
          sweep <= 2 * one, f"{one:.3g} s one job")
    calls_file = os.path.join(h.srv, "sbatch.calls")
    if os.path.exists(calls_file):
        os.unlink(calls_file)
    B.sh([h.grund, "--once", "-q"], cwd=h.srv, env=srv)
    lines = open(calls_file).read().splitlines() if os.path.exists(calls_file) else []
    calls = sum("--array=" in ln for ln in lines)     # the plain jobs' calls left out
    want = 3 * math.ceil(RUNS / MAX_ARRAY)      # three sweeps were submitted
    B.row(f"sbatch calls for 3 sweeps of {RUNS} runs, MaxArraySize {MAX_ARRAY}", calls, want,
          "calls", 0 < calls <= want, f"{want} = 3 x ceil({RUNS}/{MAX_ARRAY})")
    after = B.pack_kib(bare, h.env(h.srv))
    # the three plain submits and the three sweeps, all counted against the sweeps
    growth = (after - before) / 1024 / 3
    B.row(f"jobs repo growth per {RUNS}-run sweep of a 10 MB project", growth, None, "MiB",
          growth < 1.0, "target < 1 MiB")
    # then every run's end is recorded (squeue knows none of them: each gets its
    # job.T.status and job.T.end, committed by grund): what that adds, per sweep
    open(os.path.join(h.srv, "grunt", "srv", B.SERVER, "swp", "jobs", ".git", "grund-refreshed"), "w").close()
    B.sh([h.grund, "--once", "-q", "--refresh", "0"], cwd=h.srv, env=srv)
    ended = (B.pack_kib(bare, h.env(h.srv)) - after) / 1024 / 3
    B.row(f"jobs repo growth when a {RUNS}-run sweep's runs end", ended, None, "MiB",
          ended < 1.0, "target < 1 MiB")
    h.client("submit", "x", "-m", "plain", cwd=tops["one"])
    B.sh([h.grund, "--once", "-q"], cwd=h.srv, env=srv)
    times: dict[str, list[float]] = {name: [] for name in tops}
    for name, t in tops.items():
        h.client("jobs", cwd=t)
    for _ in range(9):      # interleaved, so that a busy moment hits both alike
        for name, t in tops.items():
            times[name].append(B.timed([h.grunt, "jobs"], cwd=t, env=h.env(h.cli)))
    res = {name: statistics.median(ts) for name, ts in times.items()}
    B.row("grunt jobs with the sweeps vs a project without", res["swp"], res["one"], "s",
          res["swp"] <= 1.2 * res["one"], f"{res['one']:.3g} s without")


def run(bindir: str) -> None:
    root = tempfile.mkdtemp(prefix="grunt-bench-sweep.", dir="/tmp")
    try:
        bench_sweep(B.Homes(root, bindir, "sweep"), fake_slurm(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    print("sweep targets (local transport; each line: figure, reference, ratio)", flush=True)
    run(os.path.dirname(TESTS))
    sys.exit(0 if all(r[4] == "yes" for r in B.ROWS) else 1)
