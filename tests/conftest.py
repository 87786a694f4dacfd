from fixture_slurm import *  # noqa: F401,F403
