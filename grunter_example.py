"""grunter.py: how this project's jobs run on the cluster.

Copy this file into your project as ``grunter.py`` and edit the settings.
grund runs ``python3 grunter.py submit|status|cancel|results|queue`` inside
each job's directory.  The job runs ``command`` followed by the arguments
given to ``grunt submit``, each quoted for the shell.
"""
import sys

SETTINGS = {
    "runner": "auto",        # auto: Slurm when sbatch is on PATH, else Grid Engine when
                             # qsub and qconf are, else a local process; or slurm|sge|local
    "time": "1:00:00",       # time limit: "30" (minutes), "2:00:00", "1-00:00:00"
    "memory": "4G",          # memory per node
    "cpus": 1,               # CPUs per task
    "tasks": None,           # number of tasks (srun ranks)
    "partition": None,       # e.g. "gpu"; None: the cluster's default
    "qos": None,
    "account": None,
    "sbatch": [],            # more sbatch options, e.g. ["--gres=gpu:1", "--constraint=a100"]
    "array": None,           # e.g. "0-9": ten tasks, each sees SLURM_ARRAY_TASK_ID
    "prepare": "",           # shell lines run first in the job, e.g. "make -j4"
    "command": "sh run.sh",  # the job's arguments are appended
    "results": [],           # result file patterns, e.g. ["*.csv", "plots/**"];
                             # empty: every file the job created
    "kill_wait": 10,         # local runner: seconds from SIGTERM to SIGKILL on cancel
    "retry": None,           # run a job again when it ends so, with more resources, e.g.
    # {"TIMEOUT": {"time": "2x", "max": 3, "cap": {"time": "1-00:00:00"}},
    #  "OUT_OF_MEMORY": {"memory": "2x", "max": 2}, "NODE_FAIL": {"max": 2}}
    # per end state: max = attempts in all; time/memory/cpus = a factor "2x" or a value
    # ("4:00:00", "32G"); cap = what scaling may reach (the partition's limit)
    # Grid Engine only (time, memory, cpus, partition, account, array apply there too)
    "queue": None,           # qsub -q; None: partition, else the cluster's default
    "project": None,         # qsub -P
    "pe": "smp",             # the parallel environment that cpus asks for: -pe smp <cpus>
    "memory_resource": "h_vmem",  # memory is -l <this>=<memory>; some sites use mem_free
    "sge": [],               # more qsub options, e.g. ["-l gpu=1"]
}

from gruntlib import runner  # noqa: E402  (installed by grund, next to grunter)

sys.exit(runner.main(SETTINGS))
