"""The cluster side on the stock python3 of RHEL/Rocky 8 (Python 3.6): grund, and
the grunter with gruntlib, run the loop there (the laptop side is this Python)."""
import os
import subprocess
import time

import pytest

from fixture_core import GRUND, pyenv_python, wait_for

pytestmark = pytest.mark.system
PY36 = pyenv_python("3.6")

GRUNTER = ("import sys\n"
           "open('python.version', 'w').write('%d.%d' % sys.version_info[:2])\n"
           "from gruntlib import runner\n"
           "sys.exit(runner.main({'runner': 'local', 'command': 'sh run.sh', 'results': ['out.txt']}))\n")
RUN_SH = 'echo "args: $*"\necho "made by $1" > out.txt\n[ "$1" = long ] && sleep 60\nexit "${1#long}"\n'


@pytest.fixture
def on36(core, tmp_path):
    """grund runs on Python 3.6, and so does every python3 it starts (grunter.py)."""
    if PY36 is None:
        pytest.skip("no Python 3.6 from pyenv here (the CI image has 3.6.15)")
    bindir = tmp_path / "py36"
    bindir.mkdir()
    (bindir / "python3").symlink_to(PY36)
    env = dict(os.environ, HOME=core.srv, PATH=f"{bindir}:{os.environ['PATH']}")

    def grund(*argv: str) -> subprocess.CompletedProcess:
        p = subprocess.run([PY36, GRUND, *argv], env=env, cwd=core.srv, capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, timeout=60)
        assert p.returncode == 0 and p.stderr == "", p
        return p
    return grund


def test_grund_and_the_grunter_run_the_loop_on_python_3_6(core, on36):
    assert "project p created" in on36("newproj", "p").stdout
    proj = core.project("p", grunter="", files={"grunter.py": GRUNTER}, run_sh=RUN_SH)
    core.grunt("newproj", "p", core.srv).ok()
    good, bad = core.submit("0", cwd=proj), core.submit("3", cwd=proj)

    def states():
        on36("--once", "-q")
        return {j: (v["status"], v["exit_code"]) for j, v in core.jobs(cwd=proj).items()}
    wait_for(lambda: states() == {good: ("Done", 0), bad: ("Failed", 3)}, timeout=30,
             what="both jobs to end", interval=0.3)
    assert core.read(os.path.join(core.sjob(good), "python.version")) == "3.6"
    core.grunt("update", good, cwd=proj).ok()
    on36("--once", "-q")
    core.grunt("pull", cwd=proj).ok()
    assert core.read(os.path.join(proj, "gresults", good, "out.txt")) == "made by 0\n"

    long = core.submit("long", cwd=proj)
    wait_for(lambda: states()[long][0] == "Running", timeout=20, what="the long job to run")
    core.grunt("cancel", long, cwd=proj).ok()
    t0 = time.monotonic()
    on36("--once", "-q")
    assert states()[long][0] == "Canceled" and time.monotonic() - t0 < 30
