"""make bench, the scale targets: each figure beside a reference measured in the same run.

Run by tests/bench.py (which also owns the loopback sshd).  Local parts use two
temporary homes on this machine (server and client, local transport); the ssh
part uses the bench's sshd and its server user.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from typing import Callable, NamedTuple

import bench_sweep

SERVER = "benchsrv"
# grunter for the bench: the job starts and ends at once; its start time goes to ~/bench-starts
GRUNTER = ("import os, sys, time\n"
           "if sys.argv[1] == 'submit':\n"
           "    with open(os.path.expanduser('~/bench-starts'), 'a') as f:\n"
           "        f.write(f'{time.time()}\\n')\n"
           "    t = time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())\n"
           "    if os.path.exists('run.sh'):\n"
           "        os.system('sh run.sh > job.out 2>&1')\n"
           "    for n, v in (('job.start', t), ('job.exitcode', '0'), ('job.end', t)):\n"
           "        open(n, 'w').write(v + '\\n')\n"
           "elif sys.argv[1] == 'results':\n"
           "    print('out')\n")

ROWS: list[tuple[str, str, str, str, str]] = []   # target, figure, reference, ratio, met
REPS = int(os.environ.get("BENCH_REPS", "3"))      # runs of each side, at least 3: the median counts


class Ctx(NamedTuple):
    """What every target gets: the bench's sshd, the zipapps, a scratch root, the
    client environment of the ssh part, and one pair of local homes to share."""

    s: object
    bindir: str
    work: str
    base: dict
    root: str
    main: "Homes"


TARGETS: list[Callable[[Ctx], None]] = []


def target(fn: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    """Register a target: run_all runs them in the order they were registered.
    A new one is a function ``def bench_x(c: Ctx)`` that calls row(), marked @target."""
    TARGETS.append(fn)
    return fn


def median_of(fn: Callable[[], float], n: int = REPS) -> float:
    return statistics.median(fn() for _ in range(max(3, n)))


def row(target: str, fig: float, ref: float | None, unit: str, met: bool | None,
        ref_text: str = "") -> None:
    """One figure; ``met`` None: shown for information, no target."""
    ratio = f"{fig / ref:.2f}" if ref else "-"
    ROWS.append((target, f"{fig:.3g} {unit}", ref_text or (f"{ref:.3g} {unit}" if ref else "-"),
                 ratio, "-" if met is None else "yes" if met else "NO"))
    print(f"  {target}: {fig:.3g} {unit} (ref {ROWS[-1][2]}, ratio {ratio}) met: {ROWS[-1][4]}",
          flush=True)


def sh(argv, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    p = subprocess.run(argv, capture_output=True, text=True, **{k: v for k, v in kw.items()
                                                                 if k != "check"})
    if kw["check"] and p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(map(str, argv))} failed: {p.stderr.strip()}")
    return p


def timed(argv, **kw) -> float:
    t = time.perf_counter()
    sh(argv, **kw)
    return time.perf_counter() - t


class Homes:
    """A server home and a client home on this machine; grunt/grund as subprocesses."""

    def __init__(self, root: str, bindir: str, name: str):
        self.dir = os.path.join(root, name)
        self.srv, self.cli, self.work = (os.path.join(self.dir, x) for x in ("srv", "cli", "work"))
        for d in (self.srv, self.cli, self.work):
            os.makedirs(d)
            if d != self.work:
                with open(os.path.join(d, ".grunt.defserver"), "w") as f:
                    f.write(SERVER + "\n")
        gitcfg = os.path.join(self.dir, "gitconfig")
        with open(gitcfg, "w") as f:
            f.write("[user]\n\tname = Bench\n\temail = bench@example.invalid\n"
                    "[init]\n\tdefaultBranch = main\n")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GRUNT_"))}
        base.update(GIT_CONFIG_GLOBAL=gitcfg, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
        self.base = base
        self.grunt = os.path.join(bindir, "grunt")
        self.grund = os.path.join(bindir, "grund")

    def env(self, home: str) -> dict[str, str]:
        return dict(self.base, HOME=home)

    def project(self, name: str, files: dict[str, bytes], grunter: str = GRUNTER) -> str:
        top = os.path.join(self.work, name)
        write_tree(top, files)
        with open(os.path.join(top, "grunter.py"), "w") as f:
            f.write(grunter)
        for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
            sh(["git", *argv], cwd=top, env=self.env(self.cli))
        sh([self.grunt, "newproj", name], cwd=self.srv, env=self.env(self.srv))
        sh([self.grunt, "newproj", name, self.srv], cwd=top, env=self.env(self.cli))
        return top

    def client(self, *argv: str, cwd: str) -> subprocess.CompletedProcess:
        return sh([self.grunt, *argv], cwd=cwd, env=self.env(self.cli))

    def once(self) -> float:
        return timed([self.grund, "--once", "-q"], cwd=self.srv, env=self.env(self.srv))


def write_tree(top: str, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = os.path.join(top, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)


def small_files(n: int, salt: str) -> dict[str, bytes]:
    return {f"src/d{i // 100}/f{i}.py": f"x = {i}  # {salt}\n".encode() * 10 for i in range(n)}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]


# ------------------------------------------------------------------ 1. latency
def wait_lines(path: str, n: int, timeout: float = 30) -> list[float]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                lines = f.read().split()
            if len(lines) >= n:
                return [float(x) for x in lines]
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    raise SystemExit(f"bench: no grunter start within {timeout} s ({path})")


def latencies(submit, starts: str, n: int) -> list[float]:
    """submit() n times; seconds from its return to grunter's submit starting."""
    out = []
    for i in range(n):
        before = len(open(starts).read().split()) if os.path.exists(starts) else 0
        submit(i)
        t = time.time()
        out.append(max(0.0, wait_lines(starts, before + 1)[before] - t))
    return out


@target
def bench_latency_local(c: Ctx) -> None:
    h, n = Homes(c.root, c.bindir, "lat"), LATENCY_N
    top = h.project("lat", {"run.sh": b"true\n"})
    g = subprocess.Popen([h.grund, "-q"], cwd=h.srv, env=h.env(h.srv), stdin=subprocess.DEVNULL)
    try:
        time.sleep(1)
        starts = os.path.join(h.srv, "bench-starts")
        xs = latencies(lambda i: h.client("submit", str(i), "-m", "lat", cwd=top), starts, n)
        # the reference: the same without the wake-up, grund's polling fallback (default
        # interval): the hook leaves its mark and does not poke
        hook = os.path.join(h.srv, "grunt", "bb", SERVER, "lat", "jobs.git", "hooks", "post-receive")
        os.rename(hook, hook + ".off")
        with open(hook + ".off") as f:
            text = f.read()
        with open(hook, "w") as f:
            f.write("\n".join(x for x in text.splitlines() if "printf" not in x) + "\n")
        os.chmod(hook, 0o700)
        ref = latencies(lambda i: h.client("submit", "p", "-m", "poll", cwd=top), starts, 4)
        os.replace(hook + ".off", hook)
    finally:
        g.send_signal(signal.SIGTERM)
        g.wait(timeout=30)
    refp50 = statistics.median(ref)
    row(f"submit-to-start p50, local ({n} submits)", statistics.median(xs), refp50, "s",
        statistics.median(xs) <= 0.5, f"{refp50:.3g} s polling only")
    row(f"submit-to-start p95, local ({n} submits)", pct(xs, 0.95), refp50, "s", pct(xs, 0.95) <= 1.0,
        f"{refp50:.3g} s polling only")


@target
def bench_latency_ssh(c: Ctx) -> None:
    """grund runs as the server user; the client pushes over the loopback sshd."""
    s, bindir, work, base, n = c.s, c.bindir, c.work, c.base, LATENCY_N
    grunt = os.path.join(bindir, "grunt")
    proj = f"lat{os.getpid()}"
    s.as_server(grunt, "newproj", proj)
    starts = os.path.join(s.server_home, "bench-starts")
    s.as_server("rm", "-f", starts)
    top = os.path.join(work, proj)
    write_tree(top, {"run.sh": b"true\n", "grunter.py": GRUNTER.encode()})
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        sh(["git", *argv], cwd=top, env=base)
    sh([grunt, "newproj", proj, s.alias], cwd=top, env=base)
    cmd = [os.path.join(bindir, "grund"), "-q"]
    if s.mode == "root":
        cmd = ["runuser", "-u", s.server_user, "--", "env", f"HOME={s.server_home}", *cmd]
    g = subprocess.Popen(cmd, cwd=s.server_home, stdin=subprocess.DEVNULL)
    try:
        time.sleep(1)
        xs = latencies(lambda i: sh([grunt, "submit", str(i), "-m", "lat"], cwd=top, env=base),
                       starts, n)
    finally:
        g.send_signal(signal.SIGTERM)
        g.wait(timeout=30)
    p50, p95 = statistics.median(xs), pct(xs, 0.95)
    row(f"submit-to-start p50, ssh ({n} submits)", p50, 0.5, "s", p50 <= 0.5, "target 0.5 s")
    row(f"submit-to-start p95, ssh ({n} submits)", p95, 1.0, "s", p95 <= 1.0, "target 1 s")


# ------------------------------------------------------------------ 2. snapshots
def git_counter(root: str) -> tuple[dict[str, str], str]:
    """PATH with a git that logs its calls to the returned file."""
    shim = os.path.join(root, "shim")
    os.makedirs(shim, exist_ok=True)
    log = os.path.join(root, "git.calls")
    real = shutil.which("git")
    with open(os.path.join(shim, "git"), "w") as f:
        f.write(f'#!/bin/sh\nprintf "%s\\0" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    os.chmod(os.path.join(shim, "git"), 0o755)
    return {"PATH": shim + os.pathsep + os.environ["PATH"]}, log


def reference_commit(root: str, files_from: str, env: dict[str, str]) -> float:
    """git add -A && git commit && git push of a copy of the tree into a scratch repo."""
    ref = os.path.join(root, "ref")
    shutil.rmtree(ref, ignore_errors=True)
    shutil.rmtree(ref + ".git", ignore_errors=True)
    shutil.copytree(files_from, ref, ignore=shutil.ignore_patterns(".git"), symlinks=True)
    sh(["git", "init", "-q", "--bare", ref + ".git"], env=env)
    sh(["git", "init", "-q"], cwd=ref, env=env)
    sh(["git", "remote", "add", "origin", ref + ".git"], cwd=ref, env=env)
    t = time.perf_counter()
    sh(["git", "add", "-A"], cwd=ref, env=env)
    sh(["git", "commit", "-qm", "ref"], cwd=ref, env=env)
    sh(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], cwd=ref, env=env)
    return time.perf_counter() - t


@target
def bench_snapshot(c: Ctx) -> None:
    h, reps = c.main, max(3, int(os.environ.get("BENCH_SNAP_N", str(REPS))))
    extra, log = git_counter(h.dir)
    calls = {}
    for n in (1000, 10000):
        top = h.project(f"snap{n}", small_files(n, "v0"))
        ours, refs = [], []
        for k in range(reps + 1):
            # every file new: all content is hashed and sent, as in the reference
            write_tree(top, small_files(n, f"v{k + 1}"))
            if k == reps:   # one more, through the counting git: counted, not timed
                open(log, "w").close()
                sh([h.grunt, "submit", "-m", "snap"], cwd=top, env=dict(h.env(h.cli), **extra))
                calls[n] = open(log).read().split("\0")[:-1]
                break
            t = time.perf_counter()
            sh([h.grunt, "submit", "-m", "snap"], cwd=top, env=h.env(h.cli))
            ours.append(time.perf_counter() - t)
            refs.append(reference_commit(h.dir, top, h.env(h.cli)))
        a, b = statistics.median(ours), statistics.median(refs)
        row(f"submit, {n} files (median of {reps})", a, b, "s", a <= 1.5 * b)
    c1, c2 = len(calls[1000]), len(calls[10000])
    fetches = sum(" fetch " in f" {c} " for c in calls[10000])
    pushes = sum(" push " in f" {c} " for c in calls[10000])
    row("git processes per submit, 10000 files", c2, c1, "procs", c1 == c2, f"{c1} procs at 1000 files")
    row("fetches + pushes per submit", fetches + pushes, 2, "", fetches == 1 and pushes == 1,
        f"{fetches} fetch, {pushes} push")


class CopyRef:
    """The reference of a results copy: cp of the files over the last copy in a
    repository of the same layout, git add -A, git commit (and git push, as grund does)."""

    def __init__(self, root: str, rel: str, env: dict[str, str]):
        self.repo, self.env = os.path.join(root, "copyref"), env
        shutil.rmtree(self.repo, ignore_errors=True)
        shutil.rmtree(self.repo + ".git", ignore_errors=True)
        self.dest = os.path.join(self.repo, rel)
        os.makedirs(self.dest)
        sh(["git", "init", "-q", "--bare", self.repo + ".git"], env=env)
        sh(["git", "init", "-q", self.repo], env=env)
        sh(["git", "commit", "-q", "--allow-empty", "-m", "start"], cwd=self.repo, env=env)
        sh(["git", "remote", "add", "origin", self.repo + ".git"], cwd=self.repo, env=env)

    def time(self, src: str, push: bool) -> float:
        t = time.perf_counter()
        sh(["cp", "-r", src, self.dest], env=self.env)
        sh(["git", "add", "-A"], cwd=self.repo, env=self.env)
        sh(["git", "commit", "-qm", "copy"], cwd=self.repo, env=self.env)
        if push:
            sh(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], cwd=self.repo, env=self.env)
        return time.perf_counter() - t


def rewrite(outdir: str, n: int, k: int) -> None:
    os.makedirs(outdir, exist_ok=True)
    for i in range(n):
        with open(os.path.join(outdir, f"r{i}.txt"), "w") as f:
            f.write(f"{i} changed {k}\n")


@target
def bench_results_copy(c: Ctx) -> None:
    """grund's copy of a job's results into the results repo (lib/server/results.py,
    in this process) against cp + git add + git commit of the same files."""
    import sys
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from lib.gruntlib.jobdir import JobDir
    from lib.server.results import copy_results
    from lib.server.workcopy import WorkCopy
    env = c.main.env(c.main.srv)
    for n in (10, 100, 1000):
        top = os.path.join(c.root, f"copy{n}")
        job = JobDir(os.path.join(top, "jobs", "active", "abc000001", "p"))
        res = os.path.join(top, "results")
        for repo in (res, ):
            sh(["git", "init", "-q", repo], env=env)
            sh(["git", "commit", "-q", "--allow-empty", "-m", "start"], cwd=repo, env=env)
        ref = CopyRef(top, job.where.rel, env)
        old = dict(os.environ)
        os.environ.update(env)
        try:
            ours, refs = [], []
            def copy() -> float:
                t = time.perf_counter()
                copy_results(job, WorkCopy(res, SERVER), ["out"], None)
                return time.perf_counter() - t
            for k in range(REPS + 1):   # the first of each: the files are new
                rewrite(os.path.join(job.path, "out"), n, k)
                if k % 2:   # taking turns at going first
                    refs.append(ref.time(os.path.join(job.path, "out"), push=False))
                    ours.append(copy())
                else:
                    ours.append(copy())
                    refs.append(ref.time(os.path.join(job.path, "out"), push=False))
        finally:
            os.environ.clear()
            os.environ.update(old)
        a, b = statistics.median(ours[1:]), statistics.median(refs[1:])
        row(f"grund: results copy of {n} changed files (median of {REPS})", a, b, "s", a <= 1.5 * b,
            f"{b:.3g} s cp + git add + commit")


@target
def bench_update(c: Ctx) -> None:
    h = c.main
    run = b'mkdir -p out; i=0; while [ $i -lt 1000 ]; do echo "$i $1" > out/r$i.txt; i=$((i+1)); done\n'
    top = h.project("upd", {"run.sh": run})
    jid = h.client("submit", "a", "-m", "upd", cwd=top).stdout.strip()
    h.once()   # runs the job (it ends at once) and copies its 1000 results
    # now the update of all 1000 (changed) files again: the median of each side
    job = os.path.join(h.srv, "grunt", "srv", SERVER, "upd", "jobs", "active", jid, "upd")
    extra, log = git_counter(h.dir)
    ref = CopyRef(h.dir, "active/x/upd", h.env(h.cli))
    ref.time(os.path.join(job, "out"), push=True)   # the first copy: every file new
    ts, refs = [], []
    for k in range(REPS + 1):
        rewrite(os.path.join(job, "out"), 1000, k)
        h.client("update", jid, cwd=top)
        if k == REPS:   # one more, through the counting git: counted, not timed
            open(log, "w").close()
            sh([h.grund, "--once", "-q"], cwd=h.srv, env=dict(h.env(h.srv), **extra))
            procs = len(open(log).read().split("\0")) - 1
            break
        ts.append(timed([h.grund, "--once", "-q"], cwd=h.srv, env=h.env(h.srv)))
        refs.append(ref.time(os.path.join(job, "out"), push=True))
    t, r = statistics.median(ts), statistics.median(refs)
    row(f"grund --once: update of 1000 result files (median of {REPS})", t, r, "s", t <= 1.5 * r,
        f"{r:.3g} s cp + git add + commit + push")
    row("git processes for that update", procs, None, "procs", None, "same as 10 files (tests)")


# ------------------------------------------------------------------ 3. idle daemon
def clone_projects(h: Homes, name: str, count: int) -> None:
    """count-1 copies of project `name` on the server (bare repos and grund's copies)."""
    bb = os.path.join(h.srv, "grunt", "bb", SERVER)
    srv = os.path.join(h.srv, "grunt", "srv", SERVER)
    for i in range(1, count):
        new = f"{name}{i:03d}"
        shutil.copytree(os.path.join(bb, name), os.path.join(bb, new), symlinks=True)
        shutil.copytree(os.path.join(srv, name), os.path.join(srv, new), symlinks=True)
        for kind in ("jobs", "results"):
            cfg = os.path.join(srv, new, kind, ".git", "config")
            text = open(cfg).read().replace(f"/{name}/{kind}.git", f"/{new}/{kind}.git")
            open(cfg, "w").write(text)
            for f in ("grund-seen", "grund-cursor"):
                p = os.path.join(srv, new, kind, ".git", f)
                if os.path.exists(p):
                    os.unlink(p)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time of a process: (ns from schedstat, user + system clock ticks).  Ticks
    charge a whole 10 ms to a process that wakes at one, so they cannot tell an idle
    grund's few milliseconds apart; schedstat can (0 when the kernel lacks it)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9, ticks
    except (OSError, ValueError, IndexError):
        return ticks, ticks


@target
def bench_idle(c: Ctx) -> None:
    window = float(os.environ.get("BENCH_IDLE_S", "60"))
    homes = {}
    for count in (1, 500):
        h = Homes(c.root, c.bindir, f"idle{count}")
        top = h.project("idle", small_files(20, "idle"))
        h.client("submit", "-m", "one job", cwd=top)
        h.once()
        clone_projects(h, "idle", count)
        h.once()   # the first round looks at every project once
        homes[count] = h
    once = {n: median_of(h.once, 5) for n, h in homes.items()}
    row("grund --once, 500 idle projects", once[500], once[1], "s", once[500] <= 2 * once[1],
        f"{once[1]:.3g} s with 1 project")
    procs = {n: subprocess.Popen([h.grund, "-q"], cwd=h.srv, env=h.env(h.srv),
                                 stdin=subprocess.DEVNULL) for n, h in homes.items()}
    use: dict[int, list[float]] = {1: [], 500: []}
    ticks: dict[int, float] = {}
    try:
        time.sleep(3)   # started, first round done
        t0 = {n: cpu_seconds(p.pid)[1] for n, p in procs.items()}
        part = window / REPS   # both side by side, in REPS windows: the median of each
        for _ in range(REPS):
            c0 = {n: cpu_seconds(p.pid)[0] for n, p in procs.items()}
            time.sleep(part)
            for n, p in procs.items():
                use[n].append(100 * (cpu_seconds(p.pid)[0] - c0[n]) / part)
        ticks = {n: 100 * (cpu_seconds(p.pid)[1] - t0[n]) / window for n, p in procs.items()}
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
    many, one = statistics.median(use[500]), statistics.median(use[1])
    print(f"  (the same in clock ticks, as /proc/<pid>/stat counts them: {ticks[500]:.3g} % "
          f"with 500 projects, {ticks[1]:.3g} % with 1)", flush=True)
    whole = {n: statistics.mean(u) for n, u in use.items()}   # a --recheck round, if one fell in it
    print(f"  (over the whole {window:.0f} s, all {REPS} parts: "
          f"{whole[500]:.3g} % with 500 projects, {whole[1]:.3g} % with 1, ratio "
          f"{whole[500] / whole[1] if whole[1] else float('inf'):.3g})", flush=True)
    row(f"running grund, 500 idle projects, CPU over {window:.0f} s (median of {REPS})", many,
        one or None, "%", many <= 3 * one, f"{one:.3g} % with 1 project")


# ------------------------------------------------------------------ 4. listing
def add_jobs(h: Homes, proj: str, count: int) -> None:
    """count finished jobs in one commit on the bare repo (git fast-import, not count submits)."""
    bare = os.path.join(h.srv, "grunt", "bb", SERVER, proj, "jobs.git")
    tip = sh(["git", "rev-parse", "main"], cwd=bare, env=h.env(h.srv)).stdout.strip()
    ts = "2026-01-01 00:00:00 UTC\n"
    files = {"job.submit": ts, "job.start": ts, "job.end": ts, "job.exitcode": "0\n",
             "job.server": SERVER + "\n", "job.args": "--lr\n0.1\n", "job.message": "bulk\n",
             "job.out": "done\n" * 20, "job.list": "File,Size,Modified\nrun.py,10,x\n"}
    files.update({f"src/f{i}.py": f"x = {i}\n" for i in range(20)})
    stream = []
    for mark, text in enumerate(files.values(), 1):
        stream.append(f"blob\nmark :{mark}\ndata {len(text.encode())}\n{text}\n")
    stream.append(f"commit refs/heads/main\ncommitter Bench <b@x> 1767225600 +0000\n"
                  f"data 8\nbulk add\nfrom {tip}\n")
    for j in range(1, count + 1):
        for mark, name in enumerate(files, 1):
            stream.append(f"M 100644 :{mark} active/bul{j:06d}/{proj}/{name}\n")
    stream.append("\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=bare, env=h.env(h.srv),
                   input="".join(stream).encode(), check=True)


@target
def bench_listing(c: Ctx) -> None:
    h = c.main
    tops = {}
    for count in (10, 5000):
        top = h.project(f"list{count}", small_files(20, "list"))
        add_jobs(h, f"list{count}", count)
        h.client("jobs", cwd=top)   # the first fetch and checkout
        tops[count] = top
    wc = os.path.join(h.cli, "grunt", "wc", SERVER, "list5000", "jobs")
    fetch = statistics.median(timed(["git", "fetch", "-q", "origin"], cwd=wc, env=h.env(h.cli))
                              for _ in range(5))
    res: dict[tuple[str, int], float] = {}
    for count, top in tops.items():
        for cmd in (["jobs"], ["out", "bul000007"], ["ls", "bul000007"], ["diff", "bul000007"]):
            res[cmd[0], count] = statistics.median(
                timed([h.grunt, *cmd], cwd=top, env=h.env(h.cli), check=cmd[0] != "diff")
                for _ in range(5))
    n = len(json.loads(h.client("jobs", "--json", cwd=tops[5000]).stdout))
    assert n == 5000, n
    beyond = res["jobs", 5000] - fetch
    row("grunt jobs, 5000 jobs, beyond the fetch", beyond, fetch, "s", beyond <= 0.5,
        f"{fetch:.3g} s git fetch")
    for cmd in ("jobs", "out", "ls", "diff"):
        a, b = res[cmd, 5000], res[cmd, 10]
        row(f"grunt {cmd}, 5000 jobs vs 10 (median of 5)", a, b, "s", a <= 1.5 * b,
            f"{b:.3g} s at 10 jobs")


# ------------------------------------------------------------------ 5. growth
def pack_kib(bare: str, env: dict[str, str]) -> float:
    sh(["git", "gc", "-q", "--prune=now"], cwd=bare, env=env)
    out = sh(["git", "count-objects", "-v"], cwd=bare, env=env).stdout
    kv = dict(line.split(": ") for line in out.splitlines())
    return float(kv["size-pack"]) + float(kv["size"])


@target
def bench_growth(c: Ctx) -> None:
    h, submits = c.main, int(os.environ.get("BENCH_GROWTH_N", "100"))
    files = {f"data/blob{i}.bin": os.urandom(100 * 1024) for i in range(100)}   # 10 MB, incompressible
    files["run.sh"] = b"true\n"
    top = h.project("grow", files)
    bare = os.path.join(h.srv, "grunt", "bb", SERVER, "grow", "jobs.git")
    empty = pack_kib(bare, h.env(h.srv))
    h.client("submit", "first", "-m", "grow", cwd=top)
    h.once()
    one = pack_kib(bare, h.env(h.srv))
    for i in range(submits):
        h.client("submit", str(i), "-m", f"grow {i}", cwd=top)
        if i % 20 == 19:
            h.once()
    h.once()
    after = pack_kib(bare, h.env(h.srv))
    added = (after - one) / 1024
    row(f"jobs repo growth, {submits} submits of an unchanged 10 MB project", added,
        (one - empty) / 1024, "MiB", added < 1.0, f"{(one - empty) / 1024:.3g} MiB the first submit")


LATENCY_N = int(os.environ.get("BENCH_LATENCY_N", "20"))


@target
def bench_compare_plot_report(c: Ctx) -> None:
    import bench_results   # it imports this module: here, not at the top
    bench_results.bench_results(c.main)


@target
def bench_sweeps(c: Ctx) -> None:
    bench_sweep.run(c.bindir)


def run_all(s, bindir: str, work: str, base: dict[str, str]) -> list:
    """Every registered target (bench.py registers its own too), in order."""
    root = tempfile.mkdtemp(prefix="grunt-bench-scale.", dir="/tmp")
    try:
        print("\nscale targets (local transport unless said; each line: figure, reference, ratio)",
              flush=True)
        c = Ctx(s, bindir, work, base, root, Homes(root, bindir, "main"))
        only = os.environ.get("BENCH_ONLY", "")   # e.g. BENCH_ONLY=idle,update: those alone
        for fn in TARGETS:
            if not only or any(w and w in fn.__name__ for w in only.split(",")):
                fn(c)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return ROWS
