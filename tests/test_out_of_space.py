"""No room on the server: said to every client, commands kept and run once there is room."""
import os
import subprocess

import pytest  # noqa: F401 (fixtures, skip)

from fixture_core import SERVER


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
