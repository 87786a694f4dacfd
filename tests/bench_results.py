"""make bench, the results targets: compare over 1,000 runs with 1,000-row result
files; plot and report of 100 of them; memory that does not grow with the rows.

Jobs and results are written straight into the bare repos (git fast-import)
and pulled, as if 1,000 jobs had run.  Run by bench_scale.run_all, or alone:
``python3 tests/bench_results.py`` (the zipapps of make dist are built for it).
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_scale as B  # noqa: E402

RUNS, ROWS, SHOWN = 1000, 1000, 100


def metrics(j: int, rows: int) -> str:
    lr = 0.05 * (1 + j % 10)
    lines = ["epoch,loss,acc,lr_now"]
    for e in range(1, rows + 1):
        loss = math.exp(-lr * e / 50) + (j % 7) / 100
        lines.append(f"{e},{loss:.6f},{1 - loss / 2:.6f},{lr:.3f}")
    return "\n".join(lines) + "\n"


def fast_import(bare: str, env: "dict[str, str]", files) -> None:
    """One commit on main of ``bare`` adding ``files`` ((path, text) pairs, streamed)."""
    tip = B.sh(["git", "rev-parse", "main"], cwd=bare, env=env).stdout.strip()
    p = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=bare, env=env,
                         stdin=subprocess.PIPE)
    w = p.stdin.write
    w(f"commit refs/heads/main\ncommitter Bench <b@x> 1767225600 +0000\n"
      f"data 8\nbulk add\nfrom {tip}\n".encode())
    for path, text in files:
        data = text.encode()
        w(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
    w(b"\n")
    p.stdin.close()
    if p.wait() != 0:
        raise SystemExit("bench: git fast-import failed")


def add_runs(h: B.Homes, proj: str, count: int, rows: int, prefix: str = "res") -> None:
    ts = "2026-01-01 00:00:00 UTC\n"
    bare = os.path.join(h.srv, "grunt", "bb", B.SERVER, proj, "{}.git")

    def jobs():
        for j in range(1, count + 1):
            d = f"active/{prefix}{j:06d}/{proj}/"
            args = f"--lr\n{0.05 * (1 + j % 10):.2f}\n--seed\n{j % 5}\n"
            for name, text in (("job.submit", ts), ("job.start", ts), ("job.end", ts),
                               ("job.exitcode", "0\n"), ("job.server", B.SERVER + "\n"),
                               ("job.args", args), ("job.message", f"run {j}\n"),
                               ("job.out", f"final_loss: {j / 1000}\n")):
                yield d + name, text

    def results():
        for j in range(1, count + 1):
            yield f"active/{prefix}{j:06d}/{proj}/metrics.csv", metrics(j, rows)
    fast_import(bare.format("jobs"), h.env(h.srv), jobs())
    fast_import(bare.format("results"), h.env(h.srv), results())


def run_measured(argv: "list[str]", cwd: str, env: "dict[str, str]") -> "tuple[float, int]":
    """(seconds, peak resident KiB) of one command."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    took = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") \
        else status >> 8
    if p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed: {p.stderr.read().decode()}")
    return took, usage.ru_maxrss


def best(argv: "list[str]", cwd: str, env: "dict[str, str]", n: int = 3) -> "tuple[float, int]":
    got = [run_measured(argv, cwd, env) for _ in range(n)]
    return min(t for t, _ in got), max(m for _, m in got)


def read_all(top: str, count: int) -> float:
    """Reference: a plain Python csv pass over ``count`` of the result files."""
    code = ("import csv, glob, sys\nn = 0\n"
            "for p in sorted(glob.glob(sys.argv[1] + '/active/*/*/metrics.csv'))[:int(sys.argv[2])]:\n"
            "    with open(p, newline='') as f:\n"
            "        for row in csv.reader(f):\n"
            "            n += 1\n")
    return min(B.timed([sys.executable, "-c", code, top, str(count)]) for _ in range(3))


def bench_results(h: B.Homes) -> None:
    top = h.project("results", B.small_files(5, "res"))
    add_runs(h, "results", RUNS, ROWS)
    h.client("pull", cwd=top)
    env = h.env(h.cli)
    results = os.path.join(h.cli, "grunt", "wc", B.SERVER, "results", "results")
    jobs_t, _ = best([h.grunt, "jobs"], top, env)
    cmp_t, _ = best([h.grunt, "compare", f"res000001..{RUNS}"], top, env)
    B.row(f"grunt compare, {RUNS} runs x {ROWS} rows", cmp_t, jobs_t, "s", cmp_t <= 1.0,
          f"{jobs_t:.3g} s grunt jobs")
    cmpmin_t, _ = best([h.grunt, "compare", f"res000001..{RUNS}", "--stat", "min"], top, env, 1)
    ref_all = read_all(results, RUNS)
    B.row(f"grunt compare --stat min, {RUNS} runs (every row read)", cmpmin_t, ref_all, "s",
          None, f"{ref_all:.3g} s csv.reader of the files")
    ref = read_all(results, SHOWN)
    shown = f"res000001..{SHOWN}"
    plot_t, _ = best([h.grunt, "plot", shown, "--y", "loss"], top, env)
    B.row(f"grunt plot, {SHOWN} runs x {ROWS} rows", plot_t, ref, "s", plot_t <= 2.0,
          f"{ref:.3g} s csv.reader of the files")
    out = os.path.join(h.work, "report.html")
    rep_t, _ = best([h.grunt, "report", shown, "-o", out, "--y", "loss", "--y", "acc"], top, env)
    B.row(f"grunt report, {SHOWN} runs x {ROWS} rows, 2 charts", rep_t, ref, "s", rep_t <= 2.0,
          f"{ref:.3g} s csv.reader of the files")
    # memory: the same plot over 100 jobs, with files ten times as long
    kib = {}
    for rows in (ROWS, ROWS * 10):
        t = h.project(f"mem{rows}", B.small_files(5, f"mem{rows}"))
        add_runs(h, f"mem{rows}", SHOWN, rows)
        h.client("pull", cwd=t)
        kib[rows] = best([h.grunt, "plot", "--y", "loss"], t, env)[1]
    a, b = kib[ROWS * 10], kib[ROWS]
    B.row(f"grunt plot peak memory, {SHOWN} runs x {ROWS * 10} rows", a / 1024, b / 1024,
          "MiB", a <= 1.25 * b, f"{b / 1024:.3g} MiB at {ROWS} rows")


def main() -> int:
    import zipapps
    bindir = zipapps.build_for_bench()
    root = tempfile.mkdtemp(prefix="grunt-bench-results.", dir="/tmp")
    try:
        bench_results(B.Homes(root, bindir, "res"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(bindir, ignore_errors=True)
    for r in B.ROWS:
        print("  ".join(r))
    return 0 if all(r[4] == "yes" for r in B.ROWS) else 1


if __name__ == "__main__":
    sys.exit(main())
