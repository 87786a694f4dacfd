"""The body of a project's grunter.py: submit, status, cancel, results, queue.

A grunter script is a dict of settings and two lines::

    from gruntlib import runner
    sys.exit(runner.main(SETTINGS))

grund runs ``python3 grunter.py <cmd>`` in the job directory
``<jobs wc>/<folder>/<jobid>/<proj>/``, so the current directory is the job.
This module dispatches a command to the engine that runs the job (slurm.py,
sge.py, local.py); the engines import the base modules (protocol, states,
jobdir, script, settings, engine), never this one.  The job's own script (script.py) records
job.start, job.end and job.exitcode itself.
"""
import glob
import os
import shutil
import subprocess
import sys
from typing import Sequence

from . import local, protocol, settings as settings_mod, sge, slurm, slurmsweep, sweep
from .jobdir import JobDir, Outcome, RunnerError  # noqa: F401  (grunter scripts use them)

COMMANDS = ("submit", "status", "cancel", "results", "queue", "cancel-runs")
# settings a resubmit may override for one job (job.resources)
RESOURCES = ("time", "memory", "array")
ENGINES = {"slurm": slurm, "sge": sge, "local": local}
# what older grunter scripts call
check_settings = settings_mod.check
Job = JobDir


def _git_env() -> "dict[str, str]":
    """The environment for git in the job: no GIT_DIR & co. inherited from a hook."""
    return {k: v for k, v in os.environ.items()
            if not (k.startswith("GIT_") and k not in ("GIT_SSH", "GIT_SSH_COMMAND"))}


def _tracked(job: JobDir) -> "set[str] | None":
    """Paths (relative to the job) in the jobs repository's index: the snapshot."""
    try:
        p = subprocess.run(["git", "ls-files", "-z", "--", "."], cwd=job.path, env=_git_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return None
    if p.returncode != 0:
        return None
    return {n.decode("utf-8", "surrogateescape") for n in p.stdout.split(b"\0") if n}


def result_files(job: JobDir, patterns: "Sequence[str]") -> "list[str]":
    """Result file names relative to the job directory, sorted.

    With patterns: the files they match (``**`` spans directories; a matched
    directory stands for the files in it).  Without: every file in the job
    directory that git does not track, i.e. that was not in the submitted
    snapshot, except job files and ``__pycache__``.  Paths that resolve outside
    the job directory are left out and reported on stderr.
    """
    root = os.path.realpath(job.path)

    def inside(rel: str) -> bool:
        real = os.path.realpath(os.path.join(job.path, rel))
        norm = os.path.normpath(rel)
        if (not os.path.isabs(norm) and norm.split(os.sep)[0] != ".."
                and (real == root or real.startswith(root + os.sep))):
            return True
        print(f"grunter: warning: not a result, outside the job directory: {rel}", file=sys.stderr)
        return False

    found = set()
    # glob's root_dir needs Python 3.10: match below the escaped job path instead
    base, cut = glob.escape(job.path), len(job.path) + 1
    for rel in [m[cut:] if m.startswith(job.path + os.sep) else m for p in patterns
                for m in glob.glob(os.path.join(base, p), recursive=True)] if patterns else ["."]:
        full = os.path.join(job.path, rel)
        if not inside(rel):
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            for d, dirs, files in os.walk(full):
                dirs[:] = [x for x in dirs if x != "__pycache__"]
                found.update(os.path.relpath(os.path.join(d, f), job.path) for f in files)
        else:
            found.add(os.path.normpath(rel))
    if not patterns:
        tracked = _tracked(job)
        if tracked is None:
            raise RunnerError("cannot list the job's submitted files (git ls-files failed)")
        found -= tracked
    return [rel for rel in sorted(found)
            if not protocol.is_job_file(rel) and "\n" not in rel and not _farmed(job, rel)
            and inside(rel)
            and os.path.isfile(os.path.join(job.path, rel))]


def _farmed(job: JobDir, rel: str) -> bool:
    """A link a sweep's run made to the project (``runs/<T>/<name>`` -> ``../../<name>``)."""
    parts = rel.split(os.sep)
    if len(parts) < 3 or parts[0] != protocol.RUNS_DIR:
        return False
    link = os.path.join(job.path, *parts[:3])
    return os.path.islink(link) and os.readlink(link) == f"../../{parts[2]}"


def engine_for(job: JobDir, conf: dict, cmd: str):
    """The engine module for this job: the one that submitted it, else the setting;
    for a sweep on Slurm, the chunked arrays of slurmsweep."""
    engine = _engine(job, conf, cmd)
    return slurmsweep if engine is slurm and job.has(protocol.SWEEP) else engine


def _engine(job: JobDir, conf: dict, cmd: str):
    if cmd != "submit":
        if job.has(protocol.SLURMID) or job.has(protocol.CHUNKS):
            return slurm
        if job.has(protocol.SGEID):
            return sge
        if job.has(protocol.PID):
            return local
    choice = conf["runner"]
    if choice == "auto":
        choice = ("slurm" if shutil.which("sbatch") else
                  "sge" if shutil.which("qsub") and shutil.which("qconf") else "local")
    if choice not in ENGINES:
        raise RunnerError(f"setting runner must be one of auto, {', '.join(ENGINES)}, not {choice!r}")
    return ENGINES[choice]


def main(settings: dict, argv: "Sequence[str] | None" = None) -> int:
    """Run one grunter command in the current directory (the job); the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        what = f"unknown command {argv[0]!r}" if argv else "no command"
        print(f"grunter: error: {what} (commands: {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    cmd = argv[0]
    job = JobDir(os.getcwd())
    try:
        if cmd == "submit":
            try:
                conf = settings_mod.for_attempt(job, settings_mod.check(settings))
            except RunnerError as e:
                job.fail(str(e))
                raise
        else:
            conf = settings_mod.with_defaults(settings)
        conf.update((k, v) for k, v in sweep.resources(job).items() if k in RESOURCES)
        if cmd == "results":
            patterns = conf["results"] or ()
            if patterns and job.has(protocol.SWEEP):   # each run's files too
                patterns = [*patterns, *(f"{protocol.RUNS_DIR}/*/{p}" for p in patterns)]
            for name in result_files(job, patterns):
                print(name)
            return 0
        if cmd == "cancel-runs":     # some runs of a sweep: grcmd.cancel-runs names them
            return engine_for(job, conf, cmd).cancel_runs(job, conf, sweep.runs_to_cancel(job))
        return getattr(engine_for(job, conf, cmd), cmd)(job, conf)
    except RunnerError as e:
        print(f"grunter: error: {e}", file=sys.stderr)
        return 1
