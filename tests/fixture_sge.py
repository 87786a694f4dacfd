"""A real single-node Grid Engine for the runner tests.

conftest.py does ``from fixture_sge import *``.  ``sge`` (session) starts the
cell with tests/harness/sge-up.sh (2 slots, a 1 s scheduler, accounting
flushed at once) and stops it afterwards if it was not running before; skips
when not root or Grid Engine is not installed.  Jobs are made with
fixture_slurm's ``runner_job`` and ``runner_user``: the job directory and the
ordinary user are the same for both engines.
"""
import fcntl
import os
import shutil
import subprocess

import pytest

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness")
SESSION_LOCK = "/tmp/grunt-tests-sge.lock"

__all__ = ["sge"]


@pytest.fixture(scope="session")
def sge(slurm_user: str):
    """A running Grid Engine cell (the machine's one: sessions take turns)."""
    if os.geteuid() != 0:
        pytest.skip("starting Grid Engine needs root")
    if not shutil.which("qconf") or not shutil.which("qsub"):
        pytest.skip("Grid Engine (qconf, qsub) is not installed")
    turn = open(SESSION_LOCK, "a")
    fcntl.flock(turn, fcntl.LOCK_EX)
    env = {**os.environ, "SGE_TEST_USER": slurm_user, "SGE_TEST_NO_INSTALL": "1"}
    was_up = subprocess.run(["qstat", "-g", "c"], capture_output=True, env=env).returncode == 0
    up = subprocess.run(["bash", os.path.join(HARNESS, "sge-up.sh")], env=env,
                        capture_output=True, text=True)
    if up.returncode != 0:
        pytest.fail(f"sge-up.sh failed:\n{up.stdout}\n{up.stderr}")
    yield env
    if not was_up and not os.environ.get("GRUNT_TEST_KEEP_SGE"):
        subprocess.run(["bash", os.path.join(HARNESS, "sge-down.sh"), "--fast"], env=env,
                       capture_output=True)
    turn.close()
