"""grunt end to end over a real ssh connection (see fixture_sshd.py), no mocks.

The client is this checkout's ./grunt, run as a subprocess with a temporary
HOME.  The server side runs as the server user from the single-file
executables of `make dist` (tests/zipapps.py), the way users install them on
a cluster: `grunt newproj` and `grund --once` in the server home.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

import zipapps
from lib import __version__
from fixture_sshd import OddSshd, Sshd, silent_port, start_sshd

SERVER = "flow"
GRUNT = os.path.join(zipapps.TOP, "grunt")
GRUNTER = Path(__file__).resolve().parent / "data" / "grunter_sh.py"
RUN_SH = 'echo "args: $*"\necho "hello $*" > result.txt\n'


def unique(stem: str) -> str:
    return f"{stem}{uuid.uuid4().hex[:6]}"


# ------------------------------------------------------------------ the server side

@dataclass
class Server:
    sshd: Sshd
    bindir: str

    def grunt(self, *args: str) -> str:
        p = self.sshd.as_server(os.path.join(self.bindir, "grunt"), *args)
        return p.stdout.decode()

    def grund(self) -> None:
        """One round of grund; it must have nothing to complain about."""
        p = self.sshd.as_server(os.path.join(self.bindir, "grund"), "--once", "-q")
        assert p.stderr.decode() == ""

    def path(self, *parts: str) -> Path:
        return Path(self.sshd.server_home, "grunt", *parts)

    def job_file(self, proj: str, jid: str, name: str) -> Path:
        return self.path("srv", SERVER, proj, "jobs", "active", jid, proj, name)

    def git(self, repo: Path, *args: str) -> str:
        return self.sshd.as_server("git", "-C", str(repo), *args).stdout.decode()


@pytest.fixture(scope="module")
def server(sshd: Sshd) -> Iterator[Server]:
    bindir = zipapps.build()
    name_file = Path(sshd.server_home, ".grunt.defserver")
    old = name_file.read_text() if name_file.exists() else None
    sshd.as_server("sh", "-c", 'echo "$1" > "$HOME/.grunt.defserver"', "-", SERVER)
    try:
        yield Server(sshd, bindir)
    finally:
        if old is None:
            sshd.as_server("rm", "-f", str(name_file))
        else:
            sshd.as_server("sh", "-c", 'printf %s "$1" > "$HOME/.grunt.defserver"', "-", old)
        shutil.rmtree(bindir, ignore_errors=True)


# ------------------------------------------------------------------ the client side

class Client:
    """A laptop: its own HOME, reaching the test sshd through GRUNT_SSH."""

    def __init__(self, root: Path, sshd: Sshd, prefix: str = "abc"):
        self.root, self.sshd = root, sshd
        self.home = root / "ssh-client-home"
        self.home.mkdir(parents=True)
        (self.home / ".grunt.defserver").write_text(SERVER + "\n")
        (self.home / ".grunt.prefix").write_text(prefix + "\n")
        (self.home / ".gitconfig").write_text(
            "[user]\n\tname = Test User\n\temail = test@example.invalid\n"
            "[init]\n\tdefaultBranch = main\n")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GRUNT_"))}
        # grund runs by hand here (--once): status need not wait for its answer;
        # GRUNT_DIGEST=0: these tests compare stderr (the digest line: test_client_digest.py)
        self.env.update(HOME=str(self.home), GRUNT_SSH=sshd.ssh_command, GRUNT_STATUS_WAIT="0",
                        GRUNT_DIGEST="0")

    def checkout(self, proj: str) -> "Checkout":
        """A git checkout named proj holding grunter.py and run.sh."""
        d = self.root / proj
        d.mkdir()
        shutil.copyfile(GRUNTER, d / "grunter.py")
        (d / "run.sh").write_text(RUN_SH)
        for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
            subprocess.run(["git", *argv], cwd=d, env=self.env, check=True, capture_output=True)
        return Checkout(self, proj, d)


@dataclass
class Checkout:
    client: Client
    proj: str
    dir: Path

    def grunt(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([GRUNT, *args], cwd=self.dir, env={**self.client.env, **(env or {})},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([GRUNT, *args], cwd=self.dir, env=self.client.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def ok(self, *args: str, logins: int | None = 1) -> str:
        """stdout of a grunt command that must succeed quietly over `logins` ssh logins."""
        before = self.client.sshd.accepted()
        p = self.grunt(*args)
        assert (p.returncode, p.stderr) == (0, ""), f"grunt {args}: {p.stderr}"
        if logins is not None:
            assert self.client.sshd.accepted() - before == logins, f"grunt {args}"
        return p.stdout

    def jobs(self, which: str = "active") -> dict[str, dict]:
        return {j["id"]: j for j in json.loads(self.ok("jobs", which, "--json"))}

    @property
    def jobs_wc(self) -> Path:
        return self.client.home / "grunt" / "wc" / SERVER / self.proj / "jobs"

    def wc_state(self) -> tuple[str, str]:
        """(HEAD, git status) of the client's jobs working copy."""
        def git(*args: str) -> str:
            return subprocess.run(["git", *args], cwd=self.jobs_wc, env=self.client.env,
                                  check=True, capture_output=True, text=True).stdout
        return git("rev-parse", "HEAD"), git("status", "--porcelain", "--ignored")


def new_project(server: Server, *clients: Client, stem: str = "p") -> list[Checkout]:
    """A project created on the server and set up by each client."""
    proj = unique(stem)
    assert "created" in server.grunt("newproj", proj)
    out = []
    for c in clients:
        co = c.checkout(proj)
        assert co.ok("newproj", proj, c.sshd.alias) == \
            f"project {proj} set up against {SERVER} ({c.sshd.alias})\n"
        out.append(co)
    return out


def wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


# ------------------------------------------------------------------ the whole loop

def test_flow(server: Server, sshd: Sshd, tmp_path: Path) -> None:
    cl = Client(tmp_path, sshd)
    co, = new_project(server, cl)
    j1 = co.ok("submit", "a", "b c", "-m", "first").strip()
    j2 = co.ok("submit", "bg", "x", "-m", "in the background").strip()
    assert (j1, j2) == ("abc000001", "abc000002")

    server.grund()
    wait_for(server.job_file(co.proj, j2, "job.end"))   # the background job ends by itself
    server.grund()                                      # ... and grund commits that
    table = co.ok("jobs")
    assert table.splitlines()[0].split()[:4] == ["ID", "SERVER", "SCHED_ID", "STATUS"]
    assert f"{j1}  {SERVER}" in table and " Done " in table and "first" in table
    jobs = co.jobs()
    assert [jobs[j]["status"] for j in (j1, j2)] == ["Done", "Done"]
    assert jobs[j1]["args"] == ["a", "b c"] and jobs[j2]["message"] == "in the background"

    assert co.ok("out", j1) == "args: a b c\n"
    assert co.ok("out", "2") == "args: x\n"
    assert co.ok("queue") == f"queue of {co.proj}: nothing waiting\n"

    assert co.ok("status", j1).endswith(f"asked grund on {SERVER} to refresh 1 job(s); see grunt jobs\n")
    assert co.ok("update").startswith(f"asked grund on {SERVER} to copy results of 2 job(s)")
    server.grund()
    # (update links what had results then; pull links the rest, saying how many)
    assert co.ok("pull").startswith(f"pulled {co.proj} from {SERVER}: 2 job(s)")
    assert (co.dir / "gresults" / j1 / "result.txt").read_text() == "hello a b c\n"
    assert (co.dir / "gresults" / j2 / "result.txt").read_text() == "hello x\n"
    log = (co.jobs_wc / "active" / j1 / co.proj / "job.log").read_text()
    assert "grunter.py status: exit 0" in log

    assert co.ok("diff", j1, j2) == ""
    with open(co.dir / "run.sh", "a") as f:
        f.write("echo changed\n")
    assert "+echo changed" in co.ok("diff", j1)

    # the last jobs leave active/: grund still commits and pushes
    assert co.ok("delete", f"{j1}..2") == f"asked grund on {SERVER} to delete {j1} {j2}\n"
    server.grund()
    assert co.ok("jobs") == "no jobs\n"
    assert list(co.jobs("delete")) == [j1, j2]
    assert co.ok("pull") == f"pulled {co.proj} from {SERVER}: 2 job(s), 2 link(s) updated\n"
    assert (co.dir / "gresults" / j1 / "result.txt").read_text() == "hello a b c\n"
    assert "/delete/" in os.readlink(co.dir / "gresults" / j1)

    other = unique("q")
    assert co.ok("newproj-server", other).startswith(
        f"asked grund on {SERVER} to create project {other}; once it has, run:")
    server.grund()
    assert server.path("bb", SERVER, other, "jobs.git").is_dir()
    co2 = cl.checkout(other)
    co2.ok("newproj", other, sshd.alias)
    assert co2.ok("submit", "-m", "in the new project") == "abc000001\n"


def test_one_connection_per_command(server: Server, sshd: Sshd, tmp_path: Path) -> None:
    co, = new_project(server, Client(tmp_path, sshd))
    co.ok("submit", "-m", "fetch and push, one login", logins=1)
    server.grund()
    # grund's heartbeat comes along with the one fetch
    status = co.ok("server-status", logins=1)
    assert f"grund       {__version__}, pid " in status
    assert "pending     0 command(s) not yet processed" in status
    co.ok("jobs", logins=1)
    # out -f follows on the server over the same single login; the job has ended
    assert co.ok("out", "-f", "1", logins=1) == "args: \n(abc000001 ended Done, exit 0)\n"
    # each git call logs in by itself without connection reuse: fetch, push
    before = sshd.accepted()
    p = co.grunt("submit", "-m", "two logins", env={"GRUNT_SSH_MUX": "0"})
    assert p.returncode == 0, p.stderr
    assert sshd.accepted() - before == 2


# ssh processes per command, and the channels among them (sessions over the shared
# connection): -G (does the user's config multiplex?), the master (the one login), a
# channel per fetch and push, -O exit.  A read-only command makes one plain connection.
# A pull fetches the results only when grund's heartbeat names a tip the copy lacks.
SSH_PER_COMMAND = {"submit": (5, 2), "jobs": (1, 0), "pull": (5, 2), "pull again": (4, 1),
                   "out": (1, 0), "status": (5, 2)}


def test_ssh_processes_and_channels_per_command_do_not_grow(server: Server, sshd: Sshd,
                                                            tmp_path: Path) -> None:
    cl = Client(tmp_path, sshd)
    co, = new_project(server, cl)
    log = tmp_path / "ssh.calls"
    (tmp_path / "logged").mkdir()
    wrapper = tmp_path / "logged" / "ssh"   # named ssh: git probes any other name with -G
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "$@"\n')
    wrapper.chmod(0o755)
    cl.env["GRUNT_SSH"] = f"{wrapper} {sshd.ssh_command}"
    jid = co.ok("submit", "-m", "first").strip()
    server.grund()
    counts = {}
    for name, argv in (("submit", ["submit", "-m", "again"]), ("jobs", ["jobs"]),
                       ("pull", ["pull"]), ("pull again", ["pull"]), ("out", ["out", jid]),
                       ("status", ["status"])):
        log.write_text("")
        co.ok(*argv)   # one login each
        calls = log.read_text().splitlines()
        counts[name] = (len(calls), sum("ControlMaster=no" in c for c in calls))
    grown = {k: v for k, v in counts.items()
             if v[0] > SSH_PER_COMMAND[k][0] or v[1] > SSH_PER_COMMAND[k][1]}
    assert not grown, f"more ssh processes or channels than {SSH_PER_COMMAND}: {counts}"


# ------------------------------------------------------------------ failures

@pytest.fixture(scope="module")
def ready(server: Server, sshd: Sshd, tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    """A set-up project with one job that grund has run, pulled: in step with the server."""
    co, = new_project(server, Client(tmp_path_factory.mktemp("ready"), sshd), stem="fail")
    co.ok("submit", "-m", "one")
    server.grund()
    co.ok("pull")
    return co


def fails(co: Checkout, argv: list[str], env: dict[str, str], expected: str,
          whole: bool = True) -> None:
    """The command fails with exit 1 and one sentence, and leaves the jobs copy alone."""
    before = co.wc_state()
    p = co.grunt(*argv, env=env)
    assert p.returncode == 1, p.stderr
    assert p.stdout == "" and "Traceback" not in p.stderr
    assert p.stderr.startswith("grunt: error: ") and p.stderr.count("\n") == 1, p.stderr
    msg = p.stderr[len("grunt: error: "):-1]
    if whole:
        assert msg == expected
    else:
        assert expected in msg
    assert co.wc_state() == before


SUBMIT = ["submit", "x", "-m", "never arrives"]


def test_server_down(ready: Checkout, sshd: Sshd, tmp_path: Path) -> None:
    gone = start_sshd(tmp_path / "gone")
    cfg = sshd.write_config(tmp_path / "cfg", Port=str(gone.port))
    gone.stop()
    fails(ready, SUBMIT, {"GRUNT_SSH": f"ssh -F {cfg}"},
          f"cannot reach {SERVER} (ssh: Connection refused)")


def test_reading_offline(server: Server, sshd: Sshd, tmp_path: Path) -> None:
    """With the server gone, the reading commands answer from the last pull and say so."""
    own = start_sshd(tmp_path / "own")   # an sshd of this test's own, stopped mid-test
    co, = new_project(server, Client(tmp_path, sshd))
    co.ok("submit", "a", "-m", "read me later")
    server.grund()
    co.ok("pull")
    env = {"GRUNT_SSH": f"ssh -F {sshd.write_config(tmp_path / 'cfg', Port=str(own.port))}"}
    assert co.grunt("jobs", "--json", env=env).returncode == 0   # reachable through it
    own.stop()
    note = f"grunt: note: cannot reach {SERVER} (ssh: Connection refused); showing what was pulled at "
    for argv, want in ((["jobs"], "read me later"), (["show", "1"], "read me later"),
                       (["out", "1"], "args: a"), (["ls", "1"], "result.txt"),
                       (["log", "1"], "submit"), (["diff", "1"], "")):
        p = co.grunt(*argv, env=env)
        assert p.returncode == 0 and want in p.stdout, (argv, p)
        assert p.stderr.startswith(note) and p.stderr.count("\n") == 1, (argv, p.stderr)
    p = co.grunt("server-status", "--json", env=env)   # grund's state now: not known
    assert p.returncode == 1 and json.loads(p.stdout)["state"] == "unreachable"
    fails(co, SUBMIT, env, f"cannot reach {SERVER} (ssh: Connection refused)")


def test_connect_timeout(ready: Checkout, sshd: Sshd) -> None:
    with silent_port() as port:
        t0 = time.monotonic()
        fails(ready, SUBMIT, {"GRUNT_SSH": f"{sshd.ssh_command} -p {port}",
                              "GRUNT_SSH_TIMEOUT": "1"},
              f"cannot reach {SERVER} (ssh: Connection timed out)")
        assert time.monotonic() - t0 < 5


def test_key_refused(ready: Checkout, sshd: Sshd, tmp_path: Path) -> None:
    fails(ready, SUBMIT, {"GRUNT_SSH": f"ssh -F {sshd.stranger_key_config(tmp_path)}"},
          f"{SERVER} refused your ssh key (ssh: Permission denied (publickey)); "
          "check that your public key is in ~/.ssh/authorized_keys there")


def test_host_key_changed(ready: Checkout, sshd: Sshd, tmp_path: Path) -> None:
    cfg, _ = sshd.changed_host_key_config(tmp_path)
    fails(ready, SUBMIT, {"GRUNT_SSH": f"ssh -F {cfg}"},
          f"the host key of {SERVER} has changed (someone may be intercepting", whole=False)


def test_host_key_unknown(ready: Checkout, sshd: Sshd, tmp_path: Path) -> None:
    fails(ready, ["jobs"], {"GRUNT_SSH": f"ssh -F {sshd.unknown_host_key_config(tmp_path)}"},
          f"the host key of {SERVER} is unknown; connect once with ssh to check and accept it "
          "(ssh: Host key verification failed)")


def test_project_missing_on_server(ready: Checkout, sshd: Sshd) -> None:
    proj = unique("nosuch")
    fails(ready, ["newproj", proj, sshd.alias], {},
          f"project {proj} does not exist on {SERVER}; create it there first: grunt newproj {proj}")
    left = ready.client.home / "grunt" / "wc" / SERVER / proj
    assert not (left / "jobs").exists() and not (left / "jobs.new").exists()


def odd_env(odd: OddSshd, port: int, sshd: Sshd) -> dict[str, str]:
    assert odd.sshd.alias == sshd.alias    # the project's remote names that alias
    return {"GRUNT_SSH": f"{odd.sshd.ssh_command} -p {port}"}


def test_git_missing_on_server(ready: Checkout, odd_sshd: OddSshd, sshd: Sshd) -> None:
    fails(ready, SUBMIT, odd_env(odd_sshd, odd_sshd.nogit, sshd),
          f"git is not installed on {SERVER} (not on the PATH of ssh commands there)")


def test_python3_missing_on_server(ready: Checkout, odd_sshd: OddSshd, sshd: Sshd) -> None:
    fails(ready, ["queue"], odd_env(odd_sshd, odd_sshd.nopython, sshd),
          f"python3 is not installed on {SERVER} (not on the PATH of ssh commands there)")


# ------------------------------------------------------------------ races

def test_rejected_push_is_rebuilt(server: Server, sshd: Sshd, tmp_path: Path) -> None:
    a, b = new_project(server, Client(tmp_path / "a", sshd), Client(tmp_path / "b", sshd))
    bare = server.path("bb", SERVER, a.proj, "jobs.git")
    sync = server.path(unique("sync."))
    sshd.as_server("mkdir", str(sync))
    # the first push waits in pre-receive until b has pushed: then its ref
    # update finds main moved ("cannot lock ref ... but expected")
    hook = ("#!/bin/sh\ncat >/dev/null\n"
            f'if mkdir "{sync}/held" 2>/dev/null; then\n'
            f'  i=0; while [ ! -e "{sync}/go" ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done\n'
            "fi\n")
    sshd.as_server("sh", "-c", 'cat > "$1" && chmod 700 "$1"', "-",
                        str(bare / "hooks" / "pre-receive"), input=hook.encode())
    try:
        pa = a.popen("submit", "from-a", "-m", "a")
        wait_for(sync / "held")
        assert b.ok("submit", "from-b", "-m", "b") == "abc000001\n"
        b_tip = server.git(bare, "rev-parse", "main").strip()
    finally:
        (sync / "go").touch()
    out, err = pa.communicate(timeout=30)
    assert (pa.returncode, out, err) == (0, "abc000002\n", "")

    # a fast-forward on top of b's commit, nothing forced, nothing lost
    assert server.git(bare, "merge-base", "--is-ancestor", b_tip, "main") == ""
    server.grund()
    jobs = a.jobs()
    assert {j: (v["args"], v["status"]) for j, v in jobs.items()} == {
        "abc000001": (["from-b"], "Done"), "abc000002": (["from-a"], "Done")}


def test_two_clients_submit_at_once(server: Server, sshd: Sshd, tmp_path: Path) -> None:
    clients = new_project(server, *(Client(tmp_path / n, sshd) for n in ("a", "b")))
    start = threading.Barrier(len(clients))
    results: list[tuple[str, int, str, str]] = []

    def submit_three(co: Checkout) -> None:
        start.wait()
        for k in range(3):
            p = co.grunt("submit", f"{co.dir.parent.name}{k}", "-m", "race")
            results.append((f"{co.dir.parent.name}{k}", p.returncode, p.stdout, p.stderr))

    threads = [threading.Thread(target=submit_three, args=(co,)) for co in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(rc == 0 and err == "" for _, rc, _, err in results), results
    ids = {out.strip(): arg for arg, _, out, _ in results}
    assert len(ids) == 6 and sorted(ids) == [f"abc00000{n}" for n in range(1, 7)]

    server.grund()
    jobs = clients[0].jobs()
    assert {j: (v["args"], v["status"]) for j, v in jobs.items()} == \
        {j: ([arg], "Done") for j, arg in ids.items()}
