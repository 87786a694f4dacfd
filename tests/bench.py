#!/usr/bin/env python3
"""make bench: wall time of grunt commands over a real loopback sshd.

Measures `grunt submit`, `grunt jobs` and `grunt pull` through ssh, with connection
reuse (the default) and without (GRUNT_SSH_MUX=0), against a bare `git push` of a
comparable commit over the same ssh, all in this run.  Needs root (the server is a
separate unix user) and openssh-server.
"""
from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESS = os.path.join(TOP, "tests", "harness")
N = int(os.environ.get("BENCH_N", "7"))


def sh(argv, **kw):
    kw.setdefault("check", True)
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def main() -> int:
    if os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd"):
        print("bench: needs root and /usr/sbin/sshd (make deps)", file=sys.stderr)
        return 1
    state = tempfile.mkdtemp(prefix="grunt-bench.")
    out = sh([os.path.join(HARNESS, "sshd-up.sh"), state], env=dict(os.environ, SSHUP_ALIAS="gbench")).stdout
    env = {}
    for line in out.splitlines():
        k, v = line.removeprefix("export ").split("=", 1)
        env[k] = v.strip("'")
    try:
        return run(env)
    finally:
        sh([os.path.join(HARNESS, "sshd-down.sh"), env["SSHD_STATE"]], check=False)


def run(env: dict) -> int:
    srv_user, srv_home, alias = env["SSH_SERVER_USER"], env["SSH_SERVER_HOME"], env["SSH_ALIAS"]
    work = tempfile.mkdtemp(prefix="grunt-bench-client.")
    os.chmod(work, 0o755)
    server = "benchsrv"
    proj = f"bench{os.getpid()}"

    def as_server(*argv):
        return sh(["runuser", "-u", srv_user, "--", "env", f"HOME={srv_home}", *argv], cwd="/")

    as_server("sh", "-c", f"echo {server} > ~/.grunt.defserver")
    as_server(os.path.join(TOP, "grunt"), "newproj", proj)
    home = os.path.join(work, "home")
    os.makedirs(home)
    with open(os.path.join(home, ".grunt.defserver"), "w") as f:
        f.write(server + "\n")
    gitcfg = os.path.join(work, "gitconfig")
    with open(gitcfg, "w") as f:
        f.write("[user]\n\tname = Bench\n\temail = bench@example.invalid\n[init]\n\tdefaultBranch = main\n")
    base = dict(os.environ, HOME=home, GIT_CONFIG_GLOBAL=gitcfg, GIT_CONFIG_NOSYSTEM="1",
                GRUNT_SSH=f"ssh -F {env['SSH_CONFIG']}")
    base.pop("GIT_SSH_COMMAND", None)
    projdir = os.path.join(work, proj)
    os.makedirs(projdir)
    for i in range(20):
        with open(os.path.join(projdir, f"f{i}.py"), "w") as f:
            f.write(f"x = {i}\n" * 50)
    with open(os.path.join(projdir, "grunter.py"), "w") as f:
        f.write("import sys\n")
    sh(["git", "init", "-q"], cwd=projdir, env=base)
    sh(["git", "add", "-A"], cwd=projdir, env=base)
    sh(["git", "commit", "-qm", "init"], cwd=projdir, env=base)
    grunt = os.path.join(TOP, "grunt")
    sh([grunt, "newproj", proj, alias], cwd=projdir, env=base)

    def timed(argv, cwd, extra=None, n=N):
        e = dict(base, **(extra or {}))
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            p = subprocess.run(argv, cwd=cwd, env=e, capture_output=True, text=True)
            ts.append(time.perf_counter() - t)
            if p.returncode != 0:
                raise SystemExit(f"bench: {' '.join(argv)} failed: {p.stderr.strip()}")
        return statistics.median(ts) * 1000

    # reference: a bare git push of a comparable commit (20 small files) over the same ssh
    ref_repo = os.path.join(work, "ref")
    as_server("git", "init", "-q", "--bare", f"{srv_home}/bench-ref.git")
    sh(["git", "init", "-q", ref_repo], env=base)
    sh(["git", "remote", "add", "origin", f"{alias}:bench-ref.git"], cwd=ref_repo, env=base)
    ssh_cmd = base["GRUNT_SSH"]
    ref_times = []
    for k in range(N):
        d = os.path.join(ref_repo, f"job{k}")
        os.makedirs(d)
        for i in range(20):
            with open(os.path.join(d, f"f{i}.py"), "w") as f:
                f.write(f"x = {i}\n" * 50)
        sh(["git", "add", "-A"], cwd=ref_repo, env=base)
        sh(["git", "commit", "-qm", f"c{k}"], cwd=ref_repo, env=base)
        t = time.perf_counter()
        sh(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], cwd=ref_repo,
           env=dict(base, GIT_SSH_COMMAND=ssh_cmd))
        ref_times.append(time.perf_counter() - t)
    ref = statistics.median(ref_times) * 1000

    rows = []
    for label, extra in (("reuse", {}), ("no reuse", {"GRUNT_SSH_MUX": "0"})):
        rows.append((f"grunt submit ({label})", timed([grunt, "submit", "1", "-m", "b"], projdir, extra)))
        rows.append((f"grunt jobs ({label})", timed([grunt, "jobs"], projdir, extra)))
        rows.append((f"grunt pull ({label})", timed([grunt, "pull"], projdir, extra)))
    print(f"\ngrunt over ssh to 127.0.0.1 (median of {N}; reference = bare git push "
          f"of a 20-file commit over the same ssh)\n")
    print(f"{'operation':32s} {'ms':>8s} {'x git push':>11s}")
    print(f"{'git push (reference)':32s} {ref:8.1f} {1.0:11.2f}")
    for name, ms in rows:
        print(f"{name:32s} {ms:8.1f} {ms / ref:11.2f}")
    as_server("rm", "-rf", f"{srv_home}/bench-ref.git", f"{srv_home}/grunt/bb/{server}/{proj}",
              f"{srv_home}/grunt/srv/{server}/{proj}")
    sh(["rm", "-rf", work])
    return 0


if __name__ == "__main__":
    sys.exit(main())
