from fixture_core import *  # noqa
from fixture_sshd import *  # noqa
