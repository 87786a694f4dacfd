"""Fixtures for every test, and the two tiers of the suite.

``make check`` runs the fast tier: every test that needs no sshd, Slurm or
tmux and is not a whole-system run (``-m "not system"``).  ``make test`` runs
everything.  A test is in the system tier when it uses one of the fixtures
below that start a real server, or is marked ``@pytest.mark.system``.
"""
import pytest

from fixture_core import *  # noqa
from fixture_sshd import *  # noqa
from fixture_slurm import *  # noqa
from fixture_sge import *  # noqa

SYSTEM_FIXTURES = {"sshd", "grunt_ssh", "odd_sshd", "busy_sshd", "slurm", "slurm_user", "sge", "runner_user",
                   "runner_job", "tty", "tmux"}


def pytest_configure(config):
    config.addinivalue_line("markers", "system: needs a real sshd, Slurm, Grid Engine or tmux, or runs the "
                                       "whole system for a while (not in make check)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SYSTEM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)
