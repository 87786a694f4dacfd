from fixture_core import *  # noqa
