"""The real ./grunt and ./grund executables, as a user runs them."""
import json
import os
import re
import shutil

import pytest

from fixture_core import GRUND, GRUNT, SERVER

# whole-system runs of the executables: not in make check
pytestmark = pytest.mark.system


def ok(p):
    assert p.returncode == 0, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    assert "Traceback" not in p.stderr
    return p


def test_main_flow(core):
    top = core.project("p")
    srv, cli = core.srv, core.cli
    assert ok(core.run(GRUNT, "newproj", "p", home=srv)).stdout.startswith("project p created")
    ok(core.run(GRUNT, "newproj", "p", srv, home=cli))
    a = ok(core.run(GRUNT, "submit", "--lr", "0.1", "-m", "first", cwd=top)).stdout.strip()
    b = ok(core.run(GRUNT, "submit", "-m", "second", cwd=top)).stdout.strip()
    assert (a, b) == ("ali000001", "ali000002")
    assert ok(core.run(GRUND, "--once", home=srv)).stdout == ""
    out = ok(core.run(GRUNT, "jobs", cwd=top)).stdout
    assert re.search(rf"^{a}\s+{SERVER}\s+Done\s+.*--lr 0\.1\s+first$", out, re.M)
    assert re.search(rf"^{b}\s+{SERVER}\s+Done\s+.*second$", out, re.M)
    assert ok(core.run(GRUNT, "out", a, cwd=top)).stdout == "args: --lr 0.1\n"
    jobs = json.loads(ok(core.run(GRUNT, "jobs", "--json", cwd=top)).stdout)
    assert [(j["id"], j["status"], j["exit_code"]) for j in jobs] == [(a, "Done", 0), (b, "Done", 0)]
    ok(core.run(GRUNT, "update", a, cwd=top))
    ok(core.run(GRUND, "--once", "-q", home=srv))
    ok(core.run(GRUNT, "pull", cwd=top))
    assert core.read(os.path.join(top, "gresults", a, "out", "result.txt")) == "result of --lr 0.1\n"
    ok(core.run(GRUNT, "archive", "1..2", cwd=top))
    ok(core.run(GRUND, "--once", "-q", home=srv))
    assert ok(core.run(GRUNT, "jobs", cwd=top)).stdout == "no jobs\n"
    archived = json.loads(ok(core.run(GRUNT, "jobs", "archive", "--json", cwd=top)).stdout)
    assert [j["id"] for j in archived] == [a, b]
    ok(core.run(GRUNT, "pull", cwd=top))
    assert core.read(os.path.join(top, "gresults", a, "out", "result.txt")) == "result of --lr 0.1\n"


def test_grunt_through_a_symlink(core, core_proj):
    """The executables find lib/ from their real path (installed as a link on PATH)."""
    bindir = os.path.join(core.tmp, "bin")
    os.makedirs(bindir)
    os.symlink(GRUNT, os.path.join(bindir, "grunt"))
    p = ok(core.run(os.path.join(bindir, "grunt"), "submit", "-m", "linked", cwd=core_proj))
    assert p.stdout == "ali000001\n"


def test_errors_are_sentences(core, core_proj):
    p = core.run(GRUNT, "frobnicate")
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr == "grunt: error: unknown command 'frobnicate' (see: grunt help)\n"
    p = core.run(GRUNT, "submit", "a", cwd=core_proj)
    assert p.returncode == 2 and p.stderr.startswith("grunt: error: a message is required")
    p = core.run(GRUNT, "out", "nojob", cwd=core_proj)
    assert p.returncode == 2 and p.stderr.startswith("grunt: error: not a job id: 'nojob'")
    # the server went away
    shutil.rmtree(os.path.join(core.srv, "grunt", "bb"))
    p = core.run(GRUNT, "jobs", cwd=core_proj)
    assert p.returncode == 1
    assert p.stderr == (f"grunt: error: project p does not exist on {SERVER}; "
                        "create it there first: grunt newproj p\n")
    p = core.run(GRUND, "--bogus", home=core.srv)
    assert p.returncode == 2 and "Traceback" not in p.stderr
