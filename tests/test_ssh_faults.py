"""A network on a bad day: connections that stall or break off mid-fetch, mid-push
and during the login, between grunt and a real sshd (fixture_proxy.Proxy).

grunt must notice a dead connection within about 20 s (ssh keep-alives), say
what happened in a sentence, and report a push whose answer was lost as
unknown, never as failed.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from fixture_proxy import Proxy
from fixture_sshd import Sshd
from test_ssh import SERVER, Checkout, Client, new_project, server, wait_for  # noqa: F401 (fixture)

BIG = 3 << 20          # bytes of new file content: a fetch or push that takes a while
MID = 256 << 10        # ... and a point well inside it, far beyond the login
DETECT = 30            # seconds: the keep-alives give up after ~20 s
QUICK = {"GRUNT_SSH_ALIVE": "1"}   # ... after ~4 s, for the tests that need not show the default


@pytest.fixture
def proxy(sshd: Sshd) -> Iterator[Proxy]:
    p = Proxy(sshd.port)
    yield p
    p.close()


def _through(proxy: Proxy, sshd: Sshd, tmp_path: Path, stem: str) -> Client:
    """A laptop whose ssh goes through the proxy."""
    cl = Client(tmp_path / stem, sshd)
    config = sshd.write_config(tmp_path / f"{stem}.config", Port=str(proxy.port))
    cl.env["GRUNT_SSH"] = f"ssh -F {config}"
    return cl


def _through_proxy(proxy: Proxy) -> str:
    """What the proxy saw, for a failure message: did the command's connections pass it?"""
    return (f"connections hit by the fault: {proxy.tripped}, bytes up {proxy.bytes('up')}, "
            f"down {proxy.bytes('down')}")


def _commit_big_file(co: Checkout) -> None:
    """The checkout gains BIG bytes of new content: the next submit pushes them."""
    (co.dir / "data.bin").write_bytes(os.urandom(BIG))
    for argv in (["add", "data.bin"], ["commit", "-q", "-m", "data"]):
        subprocess.run(["git", *argv], cwd=co.dir, env=co.client.env, check=True,
                       capture_output=True)


def _timed(co: Checkout, *args: str, env: "dict[str, str] | None" = None):
    t0 = time.monotonic()
    p = co.grunt(*args, env=env)
    return p, time.monotonic() - t0


def test_a_fetch_that_stalls_is_given_up_and_said_so(server, sshd, proxy, tmp_path):
    laptop = _through(proxy, sshd, tmp_path, "laptop")
    direct = Client(tmp_path / "direct", sshd)
    co, other = new_project(server, laptop, direct)
    _commit_big_file(other)
    other.ok("submit", "-m", "big")                          # the laptop's next fetch is big
    proxy.fault("stall", "down", MID)
    p, took = _timed(co, "jobs")   # a reading command: it goes on with what it has, and says so
    assert p.returncode == 0 and took < DETECT, (took, p.stderr)
    assert p.stderr.startswith(f"grunt: note: {SERVER} stopped answering (ssh: "), p.stderr
    assert "; showing what was pulled at " in p.stderr
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    proxy.clear()
    assert "big" in co.ok("jobs", logins=None)               # and the next one works


def test_a_push_cut_off_before_all_of_it_went_out_did_not_arrive(server, sshd, proxy, tmp_path):
    laptop = _through(proxy, sshd, tmp_path, "laptop")
    co, = new_project(server, laptop)
    _commit_big_file(co)
    proxy.fault("stall", "up", MID)       # a third of the pack went out, then silence
    p, took = _timed(co, "submit", "-m", "big", env=QUICK)
    assert p.returncode == 1 and took < 15, (took, p.stderr, _through_proxy(proxy))
    assert p.stderr == f"grunt: error: {SERVER} stopped answering (ssh: Timeout, server 127.0.0.1 not responding)\n"
    proxy.clear()
    proxy.drop()
    assert co.jobs() == {}


def test_a_push_whose_answer_is_lost_is_unknown_then_settled(server, sshd, proxy, tmp_path):
    laptop = _through(proxy, sshd, tmp_path, "laptop")
    co, = new_project(server, laptop)
    _commit_big_file(co)
    # the server has all of the push and takes it; its answer is lost, and the look
    # that follows fails too
    flag = Path(server.sshd.server_home, "grunt", f"{co.proj}.received")
    hook = server.path("bb", SERVER, co.proj, "jobs.git", "hooks", "pre-receive")
    server.sshd.as_server("sh", "-c", f'printf "#!/bin/sh\\ntouch {flag}\\nsleep 2\\n" > {hook} && '
                                      f"chmod +x {hook}")
    threading.Thread(target=lambda: (wait_for(flag, 60), proxy.silence()), daemon=True).start()
    p, took = _timed(co, "submit", "-m", "big", env=QUICK)
    assert p.returncode == 3 and took < 20, (took, p.stderr)
    assert p.stderr.startswith("grunt: outcome unknown: submit abc000001 was sent to "
                               f"{SERVER}, but the connection broke before the server answered "
                               f"({SERVER} stopped answering"), p.stderr
    proxy.clear()
    proxy.drop()
    p = co.grunt("jobs")
    assert p.returncode == 0 and p.stderr.startswith(
        "grunt: submit abc000001 (big), whose outcome was unknown at "), p.stderr
    assert p.stderr.endswith(f", did reach {SERVER}: the job is Pending\n"), p.stderr
    assert list(co.jobs()) == ["abc000001"]
    assert co.grunt("jobs").stderr == ""     # said once


def test_a_fetch_that_breaks_off_says_so(server, sshd, proxy, tmp_path):
    laptop = _through(proxy, sshd, tmp_path, "laptop")
    direct = Client(tmp_path / "direct", sshd)
    co, other = new_project(server, laptop, direct)
    _commit_big_file(other)
    other.ok("submit", "-m", "big")
    proxy.fault("cut", "down", MID)
    p, took = _timed(co, "jobs")   # a reading command: it goes on with what it has, and says so
    assert p.returncode == 0 and took < 10, (took, p.stderr)
    assert p.stderr.startswith(f"grunt: note: the connection to {SERVER} broke off ("), p.stderr
    assert p.stderr.count("\n") == 1
    p, took = _timed(co, "pull")
    assert p.returncode == 1 and took < 10, (took, p.stderr)
    assert p.stderr.startswith(f"grunt: error: the connection to {SERVER} broke off ("), p.stderr


@pytest.mark.parametrize("cmd", [["jobs"], ["submit", "-m", "x"]])   # one connection, shared one
def test_a_login_that_stalls_is_given_up_and_said_so(server, sshd, proxy, tmp_path, cmd):
    laptop = _through(proxy, sshd, tmp_path, "laptop")
    co, = new_project(server, laptop)
    proxy.fault("stall", "down", 600)     # inside the key exchange
    p, took = _timed(co, *cmd, env=QUICK)
    reading = cmd == ["jobs"]   # goes on with what was pulled before, and says so
    assert p.returncode == (0 if reading else 1) and took < 15, (took, p.stderr, _through_proxy(proxy))
    said = p.stderr.split("; showing what was pulled at ")[0] + "\n" if reading else p.stderr
    label = "note" if reading else "error"
    assert said in (f"grunt: {label}: cannot reach {SERVER} (ssh: Connection timed out)\n",
                    f"grunt: {label}: {SERVER} stopped answering while logging in "
                    "(nothing within 20 s)\n"), p.stderr
    proxy.clear()
    assert co.grunt(*cmd).returncode == 0
