from fixture_core import *  # noqa
from fixture_sshd import *  # noqa
from fixture_slurm import *  # noqa
