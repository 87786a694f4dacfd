"""No room on the server: said to every client, commands kept and run once there is room."""
import os
import subprocess

import pytest  # noqa: F401 (fixtures, skip)

from fixture_core import SERVER, git


@pytest.fixture
def small_disk(core):
    """grund's working copies on a 4 MB tmpfs (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    top = os.path.join(core.srv, "grunt", "srv", SERVER, "p")
    os.makedirs(top)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", top], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    yield top
    subprocess.run(["umount", "-l", top], check=False)


def fill(path):
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_out_of_space_is_reported_kept_and_finished_later(core, small_disk):
    proj = core.project("p")
    core.newproj("p")
    core.grund()
    filler = os.path.join(small_disk, "filler")
    fill(filler)
    jid = core.submit(cwd=proj)
    for _ in range(5):  # more rounds than grund ever tries a failing command
        core.grund(errors=True)
    assert core.calls() == []
    r = core.grunt("jobs", cwd=proj).ok()
    assert r.err == (f"grunt: warning: {SERVER}: grund cannot write in {core.swc('p')}: "
                     "no space left on device; commands are kept and run once there is room\n")
    assert core.jobs(cwd=proj)[jid]["status"] == "Pending"
    os.unlink(filler)
    core.grund()
    assert core.calls() == [f"submit {jid}", f"results {jid}"]
    r = core.grunt("jobs", cwd=proj).ok()
    assert r.err == ""
    assert core.jobs(cwd=proj)[jid]["status"] == "Done"


@pytest.fixture
def small_client_disk(core):
    """The client's ~/grunt on a 4 MB tmpfs (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    top = os.path.join(core.cli, "grunt")
    os.makedirs(top)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", top], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    yield top
    subprocess.run(["umount", "-l", top], check=False)


def _temporary_objects(wc):
    return [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(wc, ".git", "objects"))
            for f in fs if f.startswith("tmp_")]


def test_a_full_laptop_disk_reads_what_is_there_and_refuses_writes(core, small_client_disk):
    proj = core.project("p")
    core.newproj("p")
    jid = core.submit("a", cwd=proj)
    core.grund()
    core.grunt("jobs", cwd=proj).ok()
    # another laptop sends something big: the next fetch runs out of room
    other = core.client_home("cli2")
    core.grunt("newproj", "p", core.srv, home=other).ok()
    with open(os.path.join(proj, "big.bin"), "wb") as f:
        f.write(os.urandom(2 << 20))
    git("add", "big.bin", cwd=proj)
    git("commit", "-q", "-m", "big", cwd=proj)
    core.submit("b", m="big", cwd=proj, home=other)
    fill(os.path.join(small_client_disk, "filler"))
    for cmd in (["jobs"], ["out", jid], ["show", jid], ["ls", jid], ["log", jid]):
        r = core.grunt(*cmd, cwd=proj)
        assert r.rc == 0 and "Traceback" not in r.err, (cmd, r)
        assert r.err.startswith(f"grunt: note: could not refresh from {SERVER} (the disk holding "
                                f"{small_client_disk} is full"), (cmd, r.err)
        assert "showing what was pulled at 20" in r.err
    assert core.grunt("out", jid, cwd=proj).out == "args: a\n"
    r = core.grunt("submit", "-m", "x", cwd=proj)
    assert (r.rc, r.out) == (1, "") and r.err == (
        f"grunt: error: the disk holding {small_client_disk} is full (no space left on device): "
        "free some space and try again\n"), r.err
    assert _temporary_objects(core.cwc("p")) == []
