#!/usr/bin/env python3
"""make bench: wall time of grunt commands over a real loopback sshd.

Measures `grunt submit`, `grunt jobs` and `grunt pull` through ssh, with connection
reuse (the default) and without (GRUNT_SSH_MUX=0), against a bare `git push` of a
comparable commit over the same ssh, all in this run, and counts the ssh logins
each one costs.  grunt and grund are the single files of `make dist`, as users
install them: the server side runs them as the server user, who may not be able
to read this checkout.  Needs root (the server is a separate unix user) and
openssh-server.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_scale  # noqa: E402
import zipapps  # noqa: E402
from fixture_sshd import Sshd, start_sshd  # noqa: E402

N = int(os.environ.get("BENCH_N", "7"))
SERVER = "benchsrv"
FILES = 20   # small files in the project, and in the reference commit


def sh(argv: list[str], **kw) -> subprocess.CompletedProcess[str]:
    kw.setdefault("check", True)
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def write_files(d: str, tag: str) -> None:
    os.makedirs(d, exist_ok=True)
    for i in range(FILES):
        with open(os.path.join(d, f"f{i}.py"), "w") as f:
            f.write(f"x = {i}  # {tag}\n" * 50)


def main() -> int:
    if os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd"):
        print("bench: needs root and /usr/sbin/sshd (make deps)", file=sys.stderr)
        return 1
    state = tempfile.mkdtemp(prefix="grunt-bench.")
    s = start_sshd(state, ALIAS="gbench")
    bindir = zipapps.build_for_bench()
    try:
        with ServerState(s):
            return run(s, bindir)
    finally:
        s.stop()
        shutil.rmtree(bindir, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


class ServerState:
    """Leave the server home as it was: the server name file and grunt's dirs."""

    def __init__(self, s: Sshd):
        self.s = s
        self.name_file = os.path.join(s.server_home, ".grunt.defserver")
        self.grunt_dir = os.path.join(s.server_home, "grunt")

    def __enter__(self) -> None:
        self.old_name = open(self.name_file).read() if os.path.exists(self.name_file) else None
        self.had_grunt = os.path.exists(self.grunt_dir)
        self.s.as_server("sh", "-c", 'echo "$1" > "$HOME/.grunt.defserver"', "-", SERVER)

    def __exit__(self, *exc: object) -> None:
        ours = [os.path.join(self.grunt_dir, d, SERVER) for d in ("bb", "srv")]
        self.s.as_server("rm", "-rf", "--", *ours,
                         os.path.join(self.s.server_home, "bench-ref.git"))
        if not self.had_grunt:   # and nobody else has put anything there meanwhile
            self.s.as_server("rmdir", *(os.path.dirname(d) for d in ours), self.grunt_dir,
                             check=False)
        if self.old_name is None:
            self.s.as_server("rm", "-f", self.name_file)
        else:
            self.s.as_server("sh", "-c", 'printf %s "$1" > "$HOME/.grunt.defserver"', "-",
                             self.old_name)


def run(s: Sshd, bindir: str) -> int:
    grunt = os.path.join(bindir, "grunt")
    work = tempfile.mkdtemp(prefix="grunt-bench-client.")
    try:
        proj = f"bench{os.getpid()}"
        s.as_server(grunt, "newproj", proj)
        home = os.path.join(work, "home")
        os.makedirs(home)
        with open(os.path.join(home, ".grunt.defserver"), "w") as f:
            f.write(SERVER + "\n")
        gitcfg = os.path.join(work, "gitconfig")
        with open(gitcfg, "w") as f:
            f.write("[user]\n\tname = Bench\n\temail = bench@example.invalid\n"
                    "[init]\n\tdefaultBranch = main\n")
        # nothing inherited may change what is measured (GRUNT_SSH_MUX, GIT_SSH_COMMAND, ...)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GRUNT_"))}
        base.update(HOME=home, GIT_CONFIG_GLOBAL=gitcfg, GIT_CONFIG_NOSYSTEM="1",
                    GRUNT_SSH=s.ssh_command)
        projdir = os.path.join(work, proj)
        write_files(projdir, "project")
        with open(os.path.join(projdir, "grunter.py"), "w") as f:
            f.write("import sys\n")
        for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
            sh(["git", *argv], cwd=projdir, env=base)
        sh([grunt, "newproj", proj, s.alias], cwd=projdir, env=base)

        # all of them in turn, N rounds: a busy moment weighs on each side alike
        cmds = [(f"grunt {cmd[0]} ({label})", [grunt, *cmd], dict(base, **extra))
                for label, extra in (("reuse", {}), ("no reuse", {"GRUNT_SSH_MUX": "0"}))
                for cmd in (["submit", "1", "-m", "b"], ["jobs"], ["pull"])]
        rows = reference_push(s, work, base, lambda: [
            (name, *timed(s, argv, projdir, env, 1)) for name, argv, env in cmds])
        ms = {name: v for name, v, _ in rows}
        for cmd, ref, limit in (("submit", "git push (reference)", 1.3),
                                ("pull", "git fetch, nothing new (reference)", 1.3),
                                ("jobs", "git fetch, nothing new (reference)", 1.2)):
            ours, theirs = ms[f"grunt {cmd} (reuse)"] / 1000, ms[ref] / 1000
            bench_scale.row(f"grunt {cmd} over ssh (median of {N})", ours, theirs, "s",
                            ours <= limit * theirs, f"{theirs:.3g} s {ref.split(' (')[0]}")
        scale = bench_scale.run_all(s, bindir, work, base)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ref = rows[0][1]
    print(f"\ngrunt (make dist) over ssh to 127.0.0.1, median of {N}; reference = bare git push "
          f"of a {FILES}-file commit over the same ssh, and a git fetch with nothing new\n")
    print(f"{'operation':28s} {'ms':>8s} {'x git push':>11s} {'ssh logins':>11s}")
    for name, ms, logins in rows:
        print(f"{name:28s} {ms:8.1f} {ms / ref:11.2f} {logins:11g}")
    print("\nscale targets\n")
    print(f"{'target':58s} {'figure':>11s} {'reference':>26s} {'ratio':>6s} {'met':>4s}")
    for target, fig, refv, ratio, met in scale:
        print(f"{target:58s} {fig:>11s} {refv:>26s} {ratio:>6s} {met:>4s}")
    met = sum(r[4] == "yes" for r in scale)
    targets = sum(r[4] != "-" for r in scale)
    print(f"\ntargets met: {met} of {targets}")
    return 0 if met == targets else 1


def timed(s: Sshd, argv: list[str], cwd: str, env: dict[str, str], n: int = N) -> tuple[float, float]:
    """(median ms, ssh logins per run) of n runs of argv."""
    ts = []
    before = s.accepted()
    for _ in range(n):
        t = time.perf_counter()
        p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
        ts.append(time.perf_counter() - t)
        if p.returncode != 0:
            raise SystemExit(f"bench: {' '.join(argv)} failed: {p.stderr.strip()}")
    return statistics.median(ts) * 1000, (s.accepted() - before) / n


def reference_push(s: Sshd, work: str, base: dict[str, str],
                   ours: Callable[[], list[tuple[str, float, float]]]) -> list[tuple[str, float, float]]:
    """Rows (name, median ms, logins per run): a plain git push of a commit of FILES new
    small files, a git fetch that finds nothing new, and the rows ``ours()`` times once,
    N rounds of all of them in turn."""
    repo = os.path.join(work, "ref")
    s.as_server("git", "init", "-q", "--bare", os.path.join(s.server_home, "bench-ref.git"))
    sh(["git", "init", "-q", repo], env=base)
    sh(["git", "remote", "add", "origin", f"{s.alias}:bench-ref.git"], cwd=repo, env=base)
    env = dict(base, GIT_SSH_COMMAND=s.ssh_command)
    ts: dict[str, list[float]] = {"push": [], "fetch": []}
    logins = {"push": 0.0, "fetch": 0.0}
    for k in range(N):
        for name, ms, login in ours():
            ts.setdefault(name, []).append(ms / 1000)
            logins[name] = logins.get(name, 0) + login
        write_files(os.path.join(repo, f"job{k}"), f"job {k}")
        sh(["git", "add", "-A"], cwd=repo, env=base)
        sh(["git", "commit", "-qm", f"c{k}"], cwd=repo, env=base)
        for what, argv in (("push", ["push", "-q", "origin", "HEAD:refs/heads/main"]),
                           ("fetch", ["fetch", "-q", "origin"])):
            before = s.accepted()
            t = time.perf_counter()
            sh(["git", *argv], cwd=repo, env=env)
            ts[what].append(time.perf_counter() - t)
            logins[what] += s.accepted() - before
    names = {"push": "git push (reference)", "fetch": "git fetch, nothing new (reference)"}
    return [(names.get(w, w), statistics.median(ts[w]) * 1000, logins[w] / N) for w in ts]


if __name__ == "__main__":
    sys.exit(main())
