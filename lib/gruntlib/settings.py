"""The settings of a grunter script: their names, defaults and checks.

A grunter script is a dict of settings and two lines::

    from gruntlib import runner
    sys.exit(runner.main(SETTINGS))
"""
import json
import re

from . import protocol, retry
from .jobdir import JobDir, RunnerError

# Every setting a grunter script may give, with its default.
DEFAULTS = {
    "runner": "auto",        # auto (slurm when sbatch is on PATH, else sge when qsub and
                             # qconf are) | slurm | sge | local
    "time": None,            # sbatch --time: "30" minutes, "2:00:00", "1-00:00:00"
    "memory": None,          # sbatch --mem: "4G"
    "cpus": None,            # sbatch --cpus-per-task
    "tasks": None,           # sbatch --ntasks
    "partition": None,       # sbatch --partition
    "qos": None,             # sbatch --qos
    "account": None,         # sbatch --account
    "sbatch": [],            # more sbatch options, one a line: ["--gres=gpu:1"]
    "queue": None,           # Grid Engine qsub -q (else partition)
    "project": None,         # Grid Engine qsub -P
    "pe": "smp",             # Grid Engine: the parallel environment that cpus asks for
    "memory_resource": "h_vmem",  # Grid Engine: the complex that memory sets (-l NAME=memory)
    "sge": [],               # more qsub options, one a line: ["-l gpu=1"]
    "array": None,           # sbatch --array: "0-3"; task T writes job.T.*
    "prepare": "",           # shell lines run in the job before the command: "make"
    "command": "sh run.sh",  # shell command (or argv list); the job's args follow, quoted
    "results": [],           # glob patterns of result files; empty: the files the job made
    "kill_wait": 10,         # local runner: seconds from SIGTERM to SIGKILL on cancel
    "sweep_style": "--name value",  # grunt sweep: --name value | --name=value | name=value
    "retry": None,           # {"TIMEOUT": {"time": "2x", "max": 3}, ...}: gruntlib/retry.py
}  # type: dict[str, object]
RUNNERS = ("auto", "slurm", "sge", "local")
SBATCH_OPTIONS = (("time", "--time"), ("memory", "--mem"), ("cpus", "--cpus-per-task"),
                  ("tasks", "--ntasks"), ("partition", "--partition"), ("qos", "--qos"),
                  ("account", "--account"))
ARRAY_RE = re.compile(r"^\d+(-\d+(:\d+)?)?(,\d+(-\d+(:\d+)?)?)*(%\d+)?$")


def with_defaults(settings: dict) -> dict:
    return {**DEFAULTS, **settings}


def check(settings: dict) -> dict:
    """The settings with defaults; RunnerError on unknown names or bad values.

    A misspelt resource (``mem`` for ``memory``) would otherwise be dropped
    silently and the job would run with the site's defaults.
    """
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise RunnerError(f"unknown setting {', '.join(map(repr, unknown))} in grunter.py "
                          f"(known: {', '.join(DEFAULTS)})")
    conf = with_defaults(settings)
    if conf["runner"] not in RUNNERS:
        raise RunnerError(f"setting runner must be one of {', '.join(RUNNERS)}, not {conf['runner']!r}")
    for name in ("queue", "project", "pe", "memory_resource"):
        value = conf[name]
        if value is not None and (not isinstance(value, str) or not re.match(r"^[^\s#]+$", value)):
            raise RunnerError(f"setting {name} must be one word, not {value!r}")
    for name, _ in SBATCH_OPTIONS:
        value = conf[name]
        if value is not None and (not isinstance(value, (str, int)) or "\n" in str(value)
                                  or not str(value).strip()):
            raise RunnerError(f"setting {name} must be one line of text or a number, not {value!r}")
    for name in ("sbatch", "sge", "results"):
        if isinstance(conf[name], str):
            conf[name] = [conf[name]]
        if not all(isinstance(v, str) and "\n" not in v for v in conf[name]):
            raise RunnerError(f"setting {name} must be a list of one-line strings")
    if conf["array"] is not None:
        conf["array"] = str(conf["array"]).replace(" ", "")
        if not ARRAY_RE.match(conf["array"]):
            raise RunnerError(f"setting array is not an array spec like 0-3 or 1,5,7: {conf['array']!r}")
    if not isinstance(conf["command"], (str, list, tuple)) or not conf["command"]:
        raise RunnerError("setting command must be a shell command or an argv list")
    if not isinstance(conf["kill_wait"], (int, float)) or conf["kill_wait"] < 0:
        raise RunnerError("setting kill_wait must be a number of seconds")
    if not isinstance(conf["prepare"], str):
        raise RunnerError("setting prepare must be shell text")
    try:
        conf["retry"] = retry.check(conf["retry"])
    except retry.PolicyError as e:
        raise RunnerError(f"setting {e}") from None
    return conf


def for_attempt(job: JobDir, conf: dict) -> dict:
    """The settings of the attempt grund asked for (job.attempt: its resources), and
    job.retry written for grund: the policy and this attempt's resources."""
    try:
        attempt = json.loads(job.read(protocol.ATTEMPT) or "{}")
    except ValueError:
        attempt = {}
    over = attempt.get("resources") if isinstance(attempt, dict) else None
    if isinstance(over, dict):
        conf = dict(conf, **{k: v for k, v in over.items() if k in retry.SCALED})
    if conf["retry"]:
        job.write(protocol.RETRY, json.dumps(
            {"policy": conf["retry"], "resources": {k: conf[k] for k in retry.SCALED}},
            sort_keys=True))
    return conf
