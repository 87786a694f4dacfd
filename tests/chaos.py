#!/usr/bin/env python3
"""make chaos: grunt and grund under concurrency, kill -9 and interrupted clients.

Real pieces only: the grunt and grund executables, git, and the test grunter,
which appends "<cmd> <jobid>" to ~/grunter.calls on the server for every call,
so submits are counted outside grunt's own records.  Two transports:

* local: a client's remote is the server home's path (a temporary directory);
* ssh (``Ssh``): clients reach a real sshd on 127.0.0.1 (tests/fixture_sshd.py)
  through GRUNT_SSH; as root the server is a separate unix user
  (GRUNT_TEST_SRV_USER, default gsrv) and grund runs as that user in its real
  home, from the single files of `make dist` as users install them.

Scenarios (sizes are arguments; `make chaos` runs the full ones, the test
suite light ones through tests/test_chaos.py):

* concurrency: several client homes submit at once while grund runs;
* twins: client homes with the same identity, checkout, args and message submit
  the same job at once (each must get a job of its own);
* kill9: grund is killed with -9 at random moments and restarted while jobs
  and their status and update commands flow;
* kill9_retries: the same while jobs end, grund decides on retries and submits
  them (every job must run exactly twice and end Done at attempt 2);
* interrupt: `grunt submit` gets SIGINT or SIGKILL at random moments, and the
  next submit must work;
* network (ssh only): a proxy before the sshd cuts or stalls each submit's
  connection at a random byte, either way; every outcome reported unknown is
  settled by the next command, and agrees with what the server holds.

Each returns its figures and a list of problems (empty when all is well).
"""
from __future__ import annotations

import json
import os
import pwd
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GRUNT = os.path.join(ROOT, "grunt")
GRUND = os.path.join(ROOT, "grund")
sys.path.insert(0, HERE)
SERVER = "chaos"
PROJ = "p"
PREFIX = "ali"
# a job with something to copy: 20 files of 20 kB and one named result
RUN_SH = ('mkdir -p out\n'
          'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do\n'
          '  head -c 20000 /dev/urandom > out/f$i\n'
          'done\n'
          'echo "result of $*" > out/result.txt\n')
RESULT_FILES = 21


def sh(argv: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("text", True)
    return subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, **kw)


class Ssh:
    """The server side over ssh: a loopback sshd, its server user and home,
    and grunt and grund built by `make dist` where that user can read them."""

    def __init__(self) -> None:
        import zipapps
        from fixture_sshd import server_home_turn, start_sshd
        self.turn = server_home_turn()    # the server user's home is the machine's one
        self.turn.__enter__()
        self.state = tempfile.mkdtemp(prefix="grunt-chaos-sshd.")
        self.sshd = start_sshd(self.state, ALIAS="gchaos", GIT_V2="1")
        self.bindir = zipapps.build()
        self.home = self.sshd.server_home
        self.ids = {}   # as root: who the server side runs as (subprocess user/group)
        if self.sshd.mode == "root":
            pw = pwd.getpwnam(self.sshd.server_user)
            self.ids = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        name_file = os.path.join(self.home, ".grunt.defserver")
        self.old_name = open(name_file).read() if os.path.exists(name_file) else None
        self.had_grunt = os.path.exists(os.path.join(self.home, "grunt"))
        self.sshd.as_server("sh", "-c", 'echo "$1" > "$HOME/.grunt.defserver"', "-", SERVER)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GRUNT_", "GRUND_"))}
        env.update(HOME=self.home, USER=self.sshd.server_user, LOGNAME=self.sshd.server_user,
                   GIT_CONFIG_NOSYSTEM="1")
        return env

    def wipe(self) -> None:
        """The server home without this run's projects and grunter.calls."""
        ours = [os.path.join(self.home, "grunt", d, SERVER) for d in ("bb", "srv")]
        self.sshd.as_server("rm", "-rf", "--", *ours, os.path.join(self.home, "grunter.calls"))

    def close(self) -> None:
        try:
            self.wipe()
            if not self.had_grunt:   # and nobody else has put anything there meanwhile
                g = os.path.join(self.home, "grunt")
                self.sshd.as_server("rmdir", os.path.join(g, "bb"), os.path.join(g, "srv"), g,
                                    check=False)
            if self.old_name is None:
                self.sshd.as_server("rm", "-f", os.path.join(self.home, ".grunt.defserver"))
            else:
                self.sshd.as_server("sh", "-c", 'printf %s "$1" > "$HOME/.grunt.defserver"', "-",
                                    self.old_name)
        finally:
            self.sshd.stop()
            shutil.rmtree(self.bindir, ignore_errors=True)
            shutil.rmtree(self.state, ignore_errors=True)
            self.turn.__exit__(None, None, None)


class World:
    """Server home, temporary client homes and one project checkout.

    Without ``ssh`` the server home is a temporary directory and clients reach
    it by path; with it, the server home is the ssh server user's, and every
    command on the server side (grund, git on its repositories) runs as that user.
    """

    def __init__(self, clients: int = 1, tmp: str | None = None, ssh: Ssh | None = None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="grunt-chaos.")
        self.ssh = ssh
        self.ssh_command = ""   # another way to the sshd than its own config (a proxy)
        self.extra_env: dict[str, str] = {}  # more environment for the clients
        self.srv = ssh.home if ssh else os.path.join(self.tmp, "srv")
        self.grund_exe = os.path.join(ssh.bindir, "grund") if ssh else GRUND
        self.homes = [os.path.join(self.tmp, f"cli{i}") for i in range(clients)]
        self.gitconfig = os.path.join(self.tmp, "gitconfig")
        with open(self.gitconfig, "w") as f:
            f.write("[user]\n\tname = Chaos\n\temail = chaos@example.org\n"
                    "[init]\n\tdefaultBranch = main\n")
        if ssh:
            ssh.wipe()   # what an earlier, interrupted run may have left
            self.logins = ssh.sshd.accepted()
        for home in self.homes if ssh else (self.srv, *self.homes):
            os.makedirs(home)
            with open(os.path.join(home, ".grunt.defserver"), "w") as f:
                f.write(SERVER + "\n")
        self.proj = os.path.join(self.tmp, "work", PROJ)
        os.makedirs(self.proj)
        shutil.copy(os.path.join(HERE, "data", "grunter_sync.py"), os.path.join(self.proj, "grunter.py"))
        with open(os.path.join(self.proj, "run.sh"), "w") as f:
            f.write(RUN_SH)
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
            self.git(*args, cwd=self.proj)
        if ssh:
            p = self.on_server([os.path.join(ssh.bindir, "grunt"), "newproj", PROJ], cwd=self.srv)
            if p.returncode != 0:
                raise AssertionError(f"grunt newproj on the server: {p.stderr}")
        else:
            self.grunt("newproj", PROJ, home=self.srv, check=True)
        for home in self.homes:
            self.grunt("newproj", PROJ, ssh.sshd.alias if ssh else self.srv, home=home, check=True)

    def env(self, home: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GRUNT_", "GRUND_"))}
        env.update(HOME=home, GIT_CONFIG_GLOBAL=self.gitconfig, GIT_CONFIG_NOSYSTEM="1",
                   USER="alice", LOGNAME="alice",
                   # grund is killed over and over here: status does not wait for its answer
                   GRUNT_STATUS_WAIT="0")
        if self.ssh:
            env["GRUNT_SSH"] = self.ssh_command or self.ssh.sshd.ssh_command
        env.update(self.extra_env)
        return env

    def server_popen_kw(self, cwd: str) -> dict:
        """cwd, env and (as root over ssh) the user for a process on the server side."""
        if not self.ssh:
            return {"cwd": cwd, "env": self.env(self.srv)}
        return {"cwd": cwd, "env": self.ssh.env(), **self.ssh.ids}

    def on_server(self, argv: list[str], cwd: str, **kw) -> subprocess.CompletedProcess:
        return sh(argv, **self.server_popen_kw(cwd), **kw)

    def run_at(self, argv: list[str], cwd: str, **kw) -> subprocess.CompletedProcess:
        """argv in cwd, as the server side when cwd is in the server home (git
        refuses a repository another user owns)."""
        if cwd == self.srv or cwd.startswith(self.srv + os.sep):
            return self.on_server(argv, cwd, **kw)
        return sh(argv, cwd=cwd, env=self.env(self.srv), **kw)

    def git(self, *args: str, cwd: str, check: bool = True) -> str:
        p = self.run_at(["git", *args], cwd=cwd)
        if check and p.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} in {cwd}: {p.stderr}")
        return p.stdout

    def grunt(self, *argv: str, home: str | None = None, check: bool = False) -> subprocess.CompletedProcess:
        p = sh([GRUNT, *argv], cwd=self.proj, env=self.env(home or self.homes[0]), timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"grunt {' '.join(argv)}: exit {p.returncode}: {p.stderr}")
        return p

    def grund_once(self, *extra: str) -> subprocess.CompletedProcess:
        p = self.on_server([self.grund_exe, "--once", "-q", *extra],
                           cwd=self.srv if self.ssh else self.tmp, timeout=600)
        if p.returncode != 0:
            raise AssertionError(f"grund --once: exit {p.returncode}: {p.stderr}")
        return p

    def start_grund(self, *extra: str) -> subprocess.Popen:
        """grund itself (not a runuser around it), so a kill -9 hits grund."""
        return subprocess.Popen([self.grund_exe, "--interval", "0.2", "--refresh", "100000", *extra],
                                **self.server_popen_kw(self.srv if self.ssh else self.tmp),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=self.grund_log(), text=True)

    def grund_log(self):
        return open(os.path.join(self.tmp, "grund.log"), "a")

    # ------------------------------------------------------------ places
    def bare(self, kind: str = "jobs") -> str:
        return os.path.join(self.srv, "grunt", "bb", SERVER, PROJ, f"{kind}.git")

    def swc(self, kind: str = "jobs") -> str:
        return os.path.join(self.srv, "grunt", "srv", SERVER, PROJ, kind)

    def cwc(self, home: str, kind: str = "jobs") -> str:
        return os.path.join(home, "grunt", "wc", SERVER, PROJ, kind)

    def calls(self) -> Counter:
        path = os.path.join(self.srv, "grunter.calls")
        if not os.path.exists(path):
            return Counter()
        with open(path) as f:
            return Counter(tuple(ln.split()) for ln in f if ln.strip())

    def tree(self, kind: str = "jobs", rev: str = "main") -> list[str]:
        p = self.run_at(["git", "ls-tree", "-r", "-z", "--name-only", rev], cwd=self.bare(kind),
                        text=False)
        if p.returncode != 0:
            raise AssertionError(f"git ls-tree in {self.bare(kind)}: {p.stderr.decode()}")
        raw = p.stdout
        return [p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0") if p]

    def show(self, kind: str, path: str) -> str:
        return self.git("show", f"main:{path}", cwd=self.bare(kind), check=False)

    def jobs_json(self, home: str | None = None) -> dict[str, dict]:
        p = self.grunt("jobs", "all", "--json", home=home, check=True)
        return {j["id"]: j for j in json.loads(p.stdout)}

    def ssh_figures(self) -> dict:
        """Over ssh: the logins sshd accepted since this world began."""
        return {"ssh logins": self.ssh.sshd.accepted() - self.logins} if self.ssh else {}

    def close(self) -> None:
        if self.ssh:
            self.ssh.wipe()
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_repos(w: World) -> list[str]:
    """git fsck on every repository; every working copy clean; no lock left behind."""
    problems = []
    repos = [w.bare("jobs"), w.bare("results"), w.swc("jobs"), w.swc("results")]
    if w.ssh:   # grund and the pushes ran as the server user, not as root
        uid = pwd.getpwnam(w.ssh.sshd.server_user).pw_uid
        for path in (os.path.join(w.srv, "grunter.calls"), w.bare("jobs"), w.swc("jobs")):
            if os.path.exists(path) and os.stat(path).st_uid != uid:
                problems.append(f"{path} is not the server user's")
    for home in w.homes:
        repos += [w.cwc(home, "jobs"), w.cwc(home, "results")]
        p = w.grunt("pull", home=home)  # and the next command works
        if p.returncode:
            problems.append(f"grunt pull failed: {p.stderr.strip()}")
    for repo in repos:
        p = w.run_at(["git", "fsck", "--no-dangling", "--no-progress"], cwd=repo)
        if p.returncode != 0 or p.stdout.strip() or p.stderr.strip():
            problems.append(f"git fsck {repo}: {p.stdout} {p.stderr}".strip())
        gitdir = repo if repo.endswith(".git") else os.path.join(repo, ".git")
        for d, dirs, files in os.walk(gitdir):
            dirs[:] = [x for x in dirs if x != "objects"]
            problems += [f"lock left: {os.path.join(d, f)}" for f in files if f.endswith(".lock")]
            if "MERGE_HEAD" in files:
                problems.append(f"unfinished merge in {d}")
        if repo.endswith(".git"):
            continue
        # grund's copies hold the jobs' outputs untracked; clients' nothing at all
        untracked = "no" if repo == w.swc("jobs") else "all"
        st = w.git("status", "--porcelain", f"--untracked-files={untracked}", cwd=repo)
        if st.strip():
            problems.append(f"working copy not clean: {repo}:\n{st}")
        if w.git("rev-parse", "HEAD", cwd=repo) != w.git("rev-parse", "main", cwd=w.bare(os.path.basename(repo))):
            problems.append(f"{repo} is not at the server's main")
    return problems


def check_results(w: World, ids: list[str]) -> list[str]:
    """Every job's results are complete in the server's results repository."""
    tree = set(w.tree("results"))
    problems = []
    for jid in ids:
        base = f"active/{jid}/{PROJ}/out"
        have = [p for p in tree if p.startswith(base + "/")]
        if len(have) != RESULT_FILES:
            problems.append(f"{jid}: {len(have)} of {RESULT_FILES} result files")
    return problems


def interrupted(w: World, jid: str) -> list[str]:
    """Commands grund gave up on for this job (job.interrupted)."""
    text = w.show("jobs", f"active/{jid}/{PROJ}/job.interrupted")
    return [ln.split()[-1] for ln in text.splitlines() if ln.strip()]


# ---------------------------------------------------------------- concurrency
def concurrency(homes: int = 3, per: int = 20, ssh: Ssh | None = None) -> tuple[dict, list[str]]:
    w = World(clients=homes, ssh=ssh)
    try:
        g = w.start_grund()
        got: dict[int, list[subprocess.CompletedProcess]] = {h: [] for h in range(homes)}

        def client(h: int) -> None:
            for i in range(per):
                got[h].append(w.grunt("submit", f"c{h}-{i}", "-m", f"home {h} job {i}", home=w.homes[h]))
        threads = [threading.Thread(target=client, args=(h,)) for h in range(homes)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - t0
        g.send_signal(signal.SIGTERM)
        g.wait(timeout=60)
        w.grund_once()
        problems = [f"submit failed: {p.stderr.strip()}" for ps in got.values() for p in ps if p.returncode]
        ids = [p.stdout.strip() for ps in got.values() for p in ps if p.returncode == 0]
        calls = w.calls()
        jobs = w.jobs_json()
        dups = sum(max(0, calls[("submit", j)] - 1) for j in ids)
        lost = sum(1 for j in ids if calls[("submit", j)] == 0)
        args = sorted(jobs[j]["args"][0] for j in ids if j in jobs)
        if args != sorted(f"c{h}-{i}" for h in range(homes) for i in range(per)):
            problems.append("the jobs' args are not the ones submitted")
        problems += [f"{j} is {jobs[j]['status']}" for j in ids if jobs.get(j, {}).get("status") != "Done"]
        if len(set(ids)) != homes * per:
            problems.append(f"{len(set(ids))} distinct ids for {homes * per} submits")
        if dups or lost:
            problems.append(f"{dups} duplicate and {lost} lost submits")
        problems += check_results(w, ids) + check_repos(w)
        figures = {**outcomes([p for ps in got.values() for p in ps], w),
                   "client homes": homes, "submits": homes * per, "distinct ids": len(set(ids)),
                   "grunter submit calls": sum(calls[("submit", j)] for j in ids),
                   "losses": lost, "duplicates": dups, "seconds": round(took, 1),
                   **w.ssh_figures()}
        return figures, problems
    finally:
        w.close()


def outcomes(reports: list[subprocess.CompletedProcess], w: World) -> dict:
    """What the submits were reported as (killed: stopped before they could say), what the
    server holds, what grunter ran, and the jobs that did not end (stuck)."""
    rcs = [p.returncode for p in reports]
    killed = sum(1 for rc in rcs if rc < 0 or rc == 130)
    on_server = {p.split("/")[1] for p in w.tree("jobs") if p.startswith("active/") and p.count("/") > 2}
    calls = w.calls()
    states = w.jobs_json()
    return {"attempted": len(rcs), "reported ok": rcs.count(0), "reported unknown": rcs.count(3),
            "reported failed": len(rcs) - rcs.count(0) - rcs.count(3) - killed, "killed": killed,
            "on the server": len(on_server),
            "run by grunter": sum(1 for j in on_server if calls[("submit", j)] > 0),
            "stuck": sum(1 for j in on_server if states.get(j, {}).get("status") in ("Pending", "Running"))}


def settled(w: World, home: str) -> tuple[set[str], set[str]]:
    """Ask once more (grunt jobs): the messages of the submits it says did, and did not,
    reach the server (``grunt: submit <id> (<message>), whose outcome was unknown ...``)."""
    p = w.grunt("jobs", home=home)
    arrived, lost = set(), set()
    for line in p.stderr.splitlines():
        if line.startswith("grunt: submit ") and "), whose outcome was unknown" in line:
            msg = line.split(" (", 1)[1].split("), whose", 1)[0]
            (arrived if " did reach " in line else lost).add(msg)
    return arrived, lost


# ---------------------------------------------------------------- twins
def twins(homes: int = 3, per: int = 10, ssh: Ssh | None = None) -> tuple[dict, list[str]]:
    """Client homes with the same identity, checkout, args and message submit at once."""
    w = World(clients=homes, ssh=ssh)
    try:
        got: list[subprocess.CompletedProcess] = []
        lock = threading.Lock()

        def client(h: int) -> None:
            for _ in range(per):
                p = w.grunt("submit", "--k", "2", "-m", "race 2", home=w.homes[h])
                with lock:
                    got.append(p)
        threads = [threading.Thread(target=client, args=(h,)) for h in range(homes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        w.grund_once()
        problems = [f"submit failed: {p.stderr.strip()}" for p in got if p.returncode]
        ids = [p.stdout.strip() for p in got if p.returncode == 0]
        calls = w.calls()
        figures = outcomes(got, w)
        dups = sum(max(0, calls[("submit", j)] - 1) for j in ids)
        lost = len(got) - figures["on the server"]
        if len(set(ids)) != len(ids):
            problems.append(f"{len(ids) - len(set(ids))} ids printed to two callers")
        if lost or dups:
            problems.append(f"{lost} lost and {dups} duplicate submits")
        problems += check_repos(w)
        figures.update({"client homes": homes, "distinct ids": len(set(ids)),
                        "grunter submit calls": sum(calls[("submit", j)] for j in ids),
                        "losses": lost, "duplicates": dups, **w.ssh_figures()})
        return figures, problems
    finally:
        w.close()


# ---------------------------------------------------------------- a network on a bad day
def network(rounds: int = 20, seed: int | None = None, ssh: Ssh | None = None,
            alive: str | None = None) -> tuple[dict, list[str]]:
    """Submits whose connection breaks off or stalls at a random byte, either way; the next
    command settles any unknown outcome.  Over ssh only (a proxy before the sshd).
    ``alive``: GRUNT_SSH_ALIVE for the clients (a stall is noticed sooner)."""
    from fixture_proxy import Proxy
    rnd = random.Random(seed)
    w = World(ssh=ssh)
    if alive:
        w.extra_env["GRUNT_SSH_ALIVE"] = alive
    proxy = Proxy(ssh.sshd.port)
    config = ssh.sshd.write_config(os.path.join(w.tmp, "proxied.config"), Port=str(proxy.port))
    w.ssh_command = f"ssh -F {config}"
    try:
        g = w.start_grund()
        got, faults = [], Counter()
        arrived, not_arrived, unknown = set(), set(), set()
        for r in range(rounds):
            with open(os.path.join(w.proj, f"data{r}.bin"), "wb") as f:
                f.write(os.urandom(rnd.randint(50, 400) << 10))
            w.git("add", "-A", cwd=w.proj)
            w.git("commit", "-q", "-m", f"data {r}", cwd=w.proj)
            kind = "stall" if rnd.random() < 0.2 else "cut"
            direction = rnd.choice(["up", "down"])
            proxy.fault(kind, direction, rnd.randint(1500, 450 << 10))
            faults[f"{kind} {direction}"] += 1
            p = w.grunt("submit", f"n{r}", "-m", f"network {r}")
            proxy.clear()
            proxy.drop()          # a stalled connection ends on the server too
            got.append(p)
            if p.returncode == 3:
                unknown.add(f"network {r}")
            a, n = settled(w, w.homes[0])
            arrived |= a
            not_arrived |= n
        w.grunt("submit", "last", "-m", "the server moves on", check=True)
        a, n = settled(w, w.homes[0])     # what was still open is settled now
        arrived |= a
        not_arrived |= n
        g.send_signal(signal.SIGTERM)
        g.wait(timeout=60)
        w.grund_once()
        return _network_figures(w, got, faults, arrived, not_arrived, unknown)
    finally:
        proxy.close()
        w.close()


def _network_figures(w, got, faults, arrived, not_arrived, unknown) -> tuple[dict, list[str]]:
    """Every submit reported sent is on the server, every unknown one settled the way the
    server says, nothing twice; the figures."""
    figures = outcomes(got, w)
    calls = w.calls()
    jobs = w.jobs_json()
    messages = {j["message"] for j in jobs.values()}
    problems = [f"{j}: {j2['status']}" for j, j2 in jobs.items() if j2["status"] != "Done"]
    ok_ids = [p.stdout.strip() for p in got if p.returncode == 0]
    problems += [f"{j} reported sent but not on the server" for j in ok_ids if j not in jobs]
    problems += [f"{m}: unknown, never settled" for m in sorted(unknown - arrived - not_arrived)]
    problems += [f"{m}: settled as arrived but not on the server" for m in arrived - messages]
    problems += [f"{m}: settled as not arrived but on the server" for m in not_arrived & messages]
    failed = {f"network {r}" for r, p in enumerate(got) if p.returncode not in (0, 3)}
    problems += [f"{m}: reported failed but on the server" for m in failed & messages]
    args = Counter(j["args"][0] for j in jobs.values())
    dups = sum(n - 1 for n in args.values()) + sum(max(0, calls[("submit", j)] - 1) for j in jobs)
    expected = len(ok_ids) + len(arrived) + 1   # and the last one
    lost = max(0, expected - len(jobs))
    if len(jobs) != expected:
        problems.append(f"{len(jobs)} jobs on the server, {expected} reported or settled as sent")
    problems += check_repos(w)
    figures.update({"faults": dict(faults), "unknown, settled arrived": len(arrived),
                    "unknown, settled not arrived": len(not_arrived),
                    "losses": lost, "duplicates": dups, **w.ssh_figures()})
    return figures, problems


# ---------------------------------------------------------------- kill -9
def children(pid: int) -> list[list[str]]:
    """argv of the processes whose parent is ``pid``."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    out.append([a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a])
        except (OSError, ValueError, IndexError):
            continue
    return out


def phase(pid: int) -> str:
    """What grund was doing: the git subcommand or grunter command it waited for."""
    for argv in children(pid):
        if "grunter.py" in argv:
            i = argv.index("grunter.py")
            return f"grunter {argv[i + 1] if i + 1 < len(argv) else ''}".strip()
        if argv and os.path.basename(argv[0]) == "git":
            words = [a for prev, a in zip(argv, argv[1:]) if not a.startswith("-") and prev not in ("-c", "-C")]
            return f"git {words[0] if words else ''}".strip()
    return "grund itself (results copy, bookkeeping)"


def kill9(jobs: int = 30, kills: int = 50, seed: int | None = None,
          ssh: Ssh | None = None) -> tuple[dict, list[str]]:
    rnd = random.Random(seed)
    w = World(ssh=ssh)
    try:
        sent: Counter = Counter()
        ids: list[str] = []
        failures: list[str] = []
        reports: list[subprocess.CompletedProcess] = []
        done = threading.Event()

        def client() -> None:
            try:
                for k in range(jobs):
                    p = w.grunt("submit", f"k{k}", "-m", f"job {k}")
                    reports.append(p)
                    if p.returncode:
                        failures.append(f"submit: {p.stderr.strip()}")
                        continue
                    ids.append(p.stdout.strip())
                    if k % 2 == 1:
                        some = rnd.sample(ids, min(3, len(ids)))
                        if w.grunt("status", *some).returncode == 0:
                            sent.update(("status", j) for j in some)
                        one = rnd.choice(ids)
                        if w.grunt("update", one).returncode == 0:
                            sent[("update", one)] += 1
            finally:
                done.set()

        g = w.start_grund()
        t = threading.Thread(target=client)
        t.start()
        n, phases = 0, Counter()
        while n < kills or not done.is_set():
            time.sleep(rnd.uniform(0.05, 0.6))
            phases[phase(g.pid)] += 1
            g.send_signal(signal.SIGKILL)
            g.wait()
            n += 1
            g = w.start_grund()
        t.join()
        g.send_signal(signal.SIGKILL)
        g.wait()
        w.grund_once()
        w.grund_once()
        calls = w.calls()
        gave_up = {j: interrupted(w, j) for j in ids}
        lost = dups = 0
        problems = list(failures)
        for j in ids:
            c = calls[("submit", j)]
            if c > 1:
                dups += c - 1
                problems.append(f"{j}: submitted {c} times")
            if c == 0 and "submit" not in gave_up[j]:
                lost += 1
                problems.append(f"{j}: never submitted, and not marked interrupted")
            for cmd, call, extra in (("status", "status", 0), ("update", "results", 1)):
                missing = sent[(cmd, j)] + extra - calls[(call, j)] - gave_up[j].count(cmd)
                if missing > 0:
                    lost += missing
                    problems.append(f"{j}: {missing} {cmd} command(s) lost")
        states = w.jobs_json()
        for j in ids:
            if states[j]["status"] != "Done" and "submit" not in gave_up[j]:
                problems.append(f"{j} is {states[j]['status']}")
        problems += check_results(w, [j for j in ids if "submit" not in gave_up[j]]) + check_repos(w)
        with open(os.path.join(w.tmp, "grund.log")) as f:
            log = f.read()
        figures = {**outcomes(reports, w), "kills survived": n, "jobs": len(ids),
                   "commands sent": len(ids) + sum(sent.values()),
                   "status/update sent": f"{sum(v for k, v in sent.items() if k[0] == 'status')}"
                                         f"/{sum(v for k, v in sent.items() if k[0] == 'update')}",
                   "grunter submit calls": sum(calls[("submit", j)] for j in ids),
                   "resumed after a kill": log.count("resumed after a crash"),
                   "marked interrupted": sum(len(v) for v in gave_up.values()),
                   "losses": lost, "duplicates": dups,
                   "kills by phase": dict(phases.most_common()), **w.ssh_figures()}
        return figures, problems
    finally:
        w.close()


# ---------------------------------------------------------------- kill -9 during retries
# Every job fails its first attempt and succeeds on the next (a marker in its
# directory); its grunter's policy retries a failure.  Each run appends a line
# to ~/runs.txt on the server: a job must run exactly twice.
RETRY_GRUNTER = ('import sys\nfrom gruntlib import runner\n'
                 'sys.exit(runner.main({"runner": "local", "command": "sh run.sh", "memory": "1G",'
                 ' "retry": {"FAILED": {"memory": "2x", "max": 3}}}))\n')
# A sweep's run (GRUNT_TASK set, its own directory runs/T) appends <jobid>_<T>.
RETRY_RUN_SH = ('if [ -n "$GRUNT_TASK" ]; then\n'
                '  id="$(basename "$(dirname "$GRUNT_JOB_DIR")")_$GRUNT_TASK"\n'
                'else id="$(basename "$(dirname "$PWD")")"; fi\n'
                'echo "$id" >> "$HOME/runs.txt"\n'
                'if [ -e tried ]; then echo second; else touch tried; exit 3; fi\n')
SWEEP_RUNS = 3   # each sweep of kill9_retries: every run fails once, so two rounds


def _sweep_problems(w: World, sids: list[str], runs: Counter, states: dict) -> list[str]:
    """Each run of each sweep ran twice, its attempts and both rounds recorded, all Done."""
    problems = []
    for j in sids:
        shape = [(r.get("task"), r.get("attempt"), bool(r.get("next"))) for r in _attempts(w, j)]
        want = ([(t, 1, True) for t in range(SWEEP_RUNS)] + [(None, 1, True)]
                + [(t, 2, False) for t in range(SWEEP_RUNS)] + [(None, 2, False)])
        if shape != want:
            problems.append(f"{j}: attempts recorded as {shape}")
        problems += [f"{j}_{t}: ran {runs[f'{j}_{t}']} time(s), not 2"
                     for t in range(SWEEP_RUNS) if runs[f"{j}_{t}"] != 2]
        if states[j]["status"] != "Done":
            problems.append(f"{j} is {states[j]['status']}")
    return problems


def _attempts(w: World, jid: str) -> list[dict]:
    path = os.path.join(w.swc(), "active", jid, PROJ, "job.attempts")
    try:
        with open(path) as f:
            return [json.loads(ln) for ln in f if ln.strip()]
    except (OSError, ValueError):
        return []


def kill9_retries(jobs: int = 20, kills: int = 30, seed: int | None = None,
                  ssh: Ssh | None = None, limit: float = 180.0,
                  sweeps: int = 0) -> tuple[dict, list[str]]:
    """grund killed with -9 at random moments while jobs (and the runs of ``sweeps``
    sweeps) end, are decided on and retried."""
    rnd = random.Random(seed)
    w = World(ssh=ssh)
    try:
        # the jobs count their runs in the server home's runs.txt; over ssh that home
        # is the machine's one, where an earlier run counted the same ids
        w.on_server(["rm", "-f", os.path.join(w.srv, "runs.txt")], cwd=w.srv)
        for name, text in (("grunter.py", RETRY_GRUNTER), ("run.sh", RETRY_RUN_SH)):
            with open(os.path.join(w.proj, name), "w") as f:
                f.write(text)
        w.git("commit", "-q", "-am", "retry on failure", cwd=w.proj)
        ids = [w.grunt("submit", f"r{k}", "-m", f"retry {k}", check=True).stdout.strip()
               for k in range(jobs)]
        sids = [w.grunt("sweep", f"k=1..{SWEEP_RUNS}", "-m", f"sweep {k}", check=True)
                .stdout.split(":")[0] for k in range(sweeps)]

        def all_decided() -> bool:
            return (all(len(_attempts(w, j)) == 2 for j in ids)
                    and all(len(_attempts(w, j)) == 2 * SWEEP_RUNS + 2 for j in sids))
        g = w.start_grund("--refresh", "0.5")
        n, phases, t0 = 0, Counter(), time.monotonic()
        while n < kills or not all_decided():
            if time.monotonic() - t0 > limit:
                break
            time.sleep(rnd.uniform(0.05, 0.6))
            phases[phase(g.pid)] += 1
            g.send_signal(signal.SIGKILL)
            g.wait()
            n += 1
            g = w.start_grund("--refresh", "0.5")
        g.send_signal(signal.SIGKILL)
        g.wait()
        # a push killed in the bare repo leaves its lock, which grund removes once
        # it is a minute old (recovery.py): give the last rounds that long
        settle = time.monotonic() + 90
        for k in range(1000):
            w.grund_once("--refresh", "0")
            if k >= 2 and (all_decided() or time.monotonic() > settle):
                w.grund_once("--refresh", "0")
                break
            time.sleep(1)
        try:
            with open(os.path.join(w.srv, "runs.txt")) as f:
                runs = Counter(ln.strip() for ln in f if ln.strip())
        except FileNotFoundError:
            runs = Counter()
        states = w.jobs_json()
        problems, dups, lost, stuck = [], 0, 0, 0
        for j in ids:
            recs = _attempts(w, j)
            shape = [(r.get("attempt"), r.get("state"), bool(r.get("next"))) for r in recs]
            if runs[j] > 2:
                dups += runs[j] - 2
                problems.append(f"{j}: ran {runs[j]} times")
            elif runs[j] < 2:
                lost += 2 - runs[j]
                problems.append(f"{j}: ran {runs[j]} time(s), not 2")
            if shape != [(1, "FAILED", True), (2, "COMPLETED", False)]:
                problems.append(f"{j}: attempts recorded as {shape}")
            if (states[j]["status"], states[j].get("attempt")) != ("Done", 2):
                stuck += 1
                problems.append(f"{j} is {states[j]['status']} at attempt {states[j].get('attempt')}")
        problems += _sweep_problems(w, sids, runs, states) + check_repos(w)
        figures = {"jobs": len(ids), "kills survived": n, "runs": sum(runs[j] for j in ids),
                   "sweeps": len(sids), "sweep runs run": sum(runs[f"{j}_{t}"] for j in sids
                                                          for t in range(SWEEP_RUNS)),
                   "retries recorded": sum(1 for j in ids for r in _attempts(w, j) if r.get("next")),
                   "Done at attempt 2": sum(1 for j in ids if states[j]["status"] == "Done"
                                            and states[j].get("attempt") == 2),
                   "losses": lost, "duplicates": dups, "stuck": stuck,
                   "kills by phase": dict(phases.most_common()), **w.ssh_figures()}
        return figures, problems
    finally:
        w.close()


# ---------------------------------------------------------------- client interrupted
def interrupt(rounds: int = 20, seed: int | None = None,
              ssh: Ssh | None = None) -> tuple[dict, list[str]]:
    rnd = random.Random(seed)
    w = World(ssh=ssh)
    home = w.homes[0]
    try:
        problems: list[str] = []
        sigs: Counter = Counter()
        ok_ids = []
        reports: list[subprocess.CompletedProcess] = []
        took = [0.3]   # how long a whole submit takes here: signals land anywhere within it
        for r in range(rounds):
            p = subprocess.Popen([GRUNT, "submit", f"int{r}", "-m", f"interrupted {r}"], cwd=w.proj,
                                 env=w.env(home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, start_new_session=True)
            time.sleep(rnd.uniform(0.0, 1.2 * sorted(took)[len(took) // 2]))
            sig = rnd.choice([signal.SIGINT, signal.SIGKILL])
            if sig == signal.SIGINT:  # Ctrl-C: the whole foreground group
                os.killpg(p.pid, sig)
            else:                     # kill -9 of grunt alone: its git children go on
                p.kill()
            out, err = p.communicate(timeout=60)
            reports.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
            sigs[(sig.name, "finished first" if p.returncode == 0 else "interrupted")] += 1
            # Ctrl-C can land while python itself starts (site-packages' .pth
            # files), before a line of grunt runs: that traceback is not grunt's
            if b"Traceback" in err and f'File "{ROOT}/'.encode() in err:
                problems.append(f"round {r}: a traceback after {sig.name}:\n{err.decode()}")
            t0 = time.monotonic()
            nxt = w.grunt("submit", f"ok{r}", "-m", f"after {r}", home=home)
            reports.append(nxt)
            took.append(time.monotonic() - t0)
            if nxt.returncode:
                problems.append(f"round {r}: the next submit failed: {nxt.stderr.strip()}")
                continue
            ok_ids.append(nxt.stdout.strip())
            st = w.git("status", "--porcelain", "--untracked-files=all", cwd=w.cwc(home))
            if st.strip():
                problems.append(f"round {r}: client copy not clean after the next submit:\n{st}")
        w.grund_once()
        tree = w.tree("jobs")
        ids = sorted({p.split("/")[1] for p in tree if p.startswith("active/") and p.count("/") > 2})
        want = [f"{PREFIX}{n:06d}" for n in range(1, len(ids) + 1)]
        if ids != want:
            problems.append(f"job ids are not 1..{len(ids)} without gaps: {ids}")
        needed = ("grunter.py", "run.sh", "job.message", "job.args", "job.submit", "job.server",
                  "grcmd.submit")
        for jid in ids:
            missing = [n for n in needed if f"active/{jid}/{PROJ}/{n}" not in tree]
            if missing:
                problems.append(f"{jid} is half-pushed: no {', '.join(missing)}")
        calls = w.calls()
        dups = sum(max(0, calls[("submit", j)] - 1) for j in ids)
        lost = sum(1 for j in ok_ids if calls[("submit", j)] != 1)
        if dups or lost:
            problems.append(f"{dups} duplicate and {lost} lost submits")
        problems += check_repos(w)
        figures = {**outcomes(reports, w), "rounds": rounds, "signals": {f"{a} ({b})": n for (a, b), n in sorted(sigs.items())},
                   "jobs in the repo": len(ids), "id gaps": len(set(want) - set(ids)),
                   "next submits failed": rounds - len(ok_ids), "losses": lost, "duplicates": dups,
                   **w.ssh_figures()}
        return figures, problems
    finally:
        w.close()


def report(title: str, fn, total: Counter) -> int:
    """Run one scenario, print its figures and problems; the number of problems."""
    t0 = time.monotonic()
    figures, problems = fn()
    print(f"\n== {title} ({time.monotonic() - t0:.1f} s)", flush=True)
    for k, v in figures.items():
        print(f"  {k:24s} {v}")
    for k in ("losses", "duplicates", "stuck"):
        total[k] += figures.get(k, 0)
    if figures.get("stuck"):
        problems.append(f"{figures['stuck']} job(s) never ended")
    for p in problems:
        print(f"  PROBLEM: {p}")
    return len(problems)


def main() -> int:
    seed = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
    transports = os.environ.get("CHAOS_TRANSPORTS", "local ssh").split()
    print(f"chaos: seed {seed} (CHAOS_SEED={seed} repeats this run); transports: {' '.join(transports)}")
    runs = [("concurrency: 3 homes x 20 submits at once", lambda ssh: concurrency(3, 20, ssh)),
            ("twins: 3 homes x 10 identical submits at once (same identity, args, message)",
             lambda ssh: twins(3, 10, ssh)),
            ("kill -9 of grund: 30 jobs with status and update, >= 50 kills",
             lambda ssh: kill9(30, 50, seed, ssh)),
            ("kill -9 of grund during retries: 20 jobs and 3 sweeps of 3 runs failing once, "
             ">= 30 kills", lambda ssh: kill9_retries(20, 30, seed, ssh, sweeps=3)),
            ("interrupted grunt submit: 30 rounds of SIGINT/SIGKILL", lambda ssh: interrupt(30, seed, ssh))]
    bad = 0
    totals = {t: Counter() for t in transports}
    if "local" in transports:
        for title, fn in runs:
            bad += report(f"local, {title}", lambda: fn(None), totals["local"])
    if "ssh" in transports:
        if not os.access("/usr/sbin/sshd", os.X_OK):
            print("\nchaos: no /usr/sbin/sshd, so nothing over ssh (make deps installs it)")
            bad += 1
        else:
            ssh = Ssh()
            print(f"\nssh: sshd on 127.0.0.1:{ssh.sshd.port}, server user {ssh.sshd.server_user} "
                  f"({ssh.sshd.mode} mode), server home {ssh.home}")
            try:
                for title, fn in runs:
                    bad += report(f"ssh, {title}", lambda: fn(ssh), totals["ssh"])
                bad += report("ssh, a network on a bad day: 20 submits cut off or stalled at a "
                              "random byte", lambda: network(20, seed, ssh), totals["ssh"])
            finally:
                ssh.close()
    print()
    for t, total in totals.items():
        print(f"chaos {t:5s}: {total['losses']} losses, {total['duplicates']} duplicates, "
              f"{total['stuck']} stuck")
    print(f"chaos: {sum(t['losses'] for t in totals.values())} losses, "
          f"{sum(t['duplicates'] for t in totals.values())} duplicates, "
          f"{sum(t['stuck'] for t in totals.values())} stuck, {bad} problem(s)"
          + ("; every repository passed git fsck" if not bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
