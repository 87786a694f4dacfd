from fixture_sshd import *  # noqa
