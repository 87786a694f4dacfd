"""gruntlib: what runs inside jobs and grunter scripts.

grund copies these modules into ``~/grunt/srv/<server>/runtime/gruntlib``
(lib/runtime.py), where a project's grunter.py imports them.  So they import
nothing outside this package, and nothing outside the standard library.
"""

# every module of the package, for runtime.install (a zipapp cannot be listed)
MODULES = ("protocol", "states", "jobdir", "retry", "settings", "sweep", "script", "engine", "local",
           "slurm", "slurmsweep", "sge", "runner")
