"""The job's shell script: it records its own start, end and exit code.

Shared by the engines: Slurm puts ``#SBATCH`` lines at its top (job.sbatch),
the local engine runs it as it is (job.sh).
"""
import shlex
from typing import Sequence

from . import protocol
from .jobdir import JobDir

# A sweep's task T (on Slurm its chunk's first task plus the array index)
# writes job.T.* and its output to job.T.out itself: the chunks of a sweep
# cannot name it in sbatch --output, whose %a is the index within the chunk.
SLURM_SWEEP_TASK = "$((${GRUNT_TASK_BASE:-0} + ${SLURM_ARRAY_TASK_ID:-0}))"


def job_script(job: JobDir, conf: dict, header: "Sequence[str]" = (),
               sweep: "dict | None" = None, task: str = "${SLURM_ARRAY_TASK_ID}",
               preamble: "Sequence[str]" = (), sweep_task: str = SLURM_SWEEP_TASK) -> str:
    """The job's shell script: records its own start, end and exit code.

    ``header`` lines (``#SBATCH ...``) go right after the shebang; ``task`` is
    the shell expression of an array task's id (``sweep_task``: of a sweep's
    run), and ``preamble`` shell lines run once ``$J`` (the job directory) and
    ``$P`` (the unit's file prefix) are set.  The
    ``prepare`` lines run in the same shell as the command, so what they set
    (``module load``, ``export``) holds for it.  The program
    runs in the background so that a SIGTERM (scancel, time limit, local
    cancel) reaches the trap at once; the trap passes it on, waits, and records
    the exit code (128+N for a signal).  After each record the script touches
    the jobs working copy's change marker and the project's mark for grund, and
    pokes grund's FIFO ("d": look at the marked projects); opening the
    FIFO read-write never blocks, and a missing FIFO (grund down) is skipped.
    """
    array = conf.get("array") is not None or sweep is not None
    command = conf["command"]
    if not isinstance(command, str):
        command = " ".join(map(shlex.quote, command))
    run = " ".join([command, *map(shlex.quote, job.args())])
    if sweep is not None:
        run = command + ' "$@"'

    prepare = conf["prepare"].strip("\n")
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        *header,
        f"# grunt job {job.jobid}: this script records {protocol.START}, {protocol.END} and "
        f"{protocol.EXITCODE} itself" + (" (job.<task>.* for each array task)" if array else ""),
        f"J={q(job.path)}",
        f"M={q(protocol.changed_marker(job.path))}",
        f"F={q(protocol.fifo_path(job.path))}",
        f"D={q(protocol.mark_path(job.path))}",
        *(_sweep_head(sweep_task) if sweep else
          [f'P="job.{task}."' if array else "P=job."]),
        *preamble,
        "ts() { date -u '+%Y-%m-%d %H:%M:%S UTC'; }",
        'put() { printf \'%s\\n\' "$2" >"$J/.$1.$$" && mv -f "$J/.$1.$$" "$J/$1"; }',
        'poke() { touch "$M" "$D" 2>/dev/null; [ -p "$F" ] && { printf d 1<>"$F"; } 2>/dev/null; return 0; }',
        "finish() { trap '' TERM; put \"${P}exitcode\" \"$1\"; put \"${P}end\" \"$(ts)\"; poke; exit \"$1\"; }",
        "# SIGTERM: pass it on and record what the program returns.  $? is its status",
        "# when the wait had already returned; a second SIGTERM only interrupts the wait.",
        "stop() {",
        "  code=$?; trap 'kill -TERM \"$child\" 2>/dev/null' TERM",
        '  [ -n "$child" ] || finish 143',
        '  kill -TERM "$child" 2>/dev/null',
        '  while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done',
        '  finish "$code"',
        "}",
        "child=",
        "trap stop TERM",
        'put "${P}start" "$(ts)"',
        *(['[ -e "$J/job.start" ] || put job.start "$(ts)"'] if array else []),
        "poke",
        'cd "$J" || finish 1',
        *(_sweep_runs(sweep) if sweep is not None else []),
    ]
    if prepare and array:
        # Tasks of an array share the directory: one prepare (a build) at a
        # time; flock's lock goes with fd 9, so a killed task cannot leave it.
        lines += ["{ flock 9 2>/dev/null", prepare, '} 9>"$J/.job.prepare.lock" &&']
    elif prepare:
        lines += ["{", prepare, "} &&"]
    if sweep is not None:
        run = 'mkdir -p "$GRUNT_RUN_DIR" && cd "$GRUNT_RUN_DIR" && farm && ' + run
    lines += [f"{run} &", "child=$!", 'wait "$child"', "finish $?", ""]
    return "\n".join(lines)


def _sweep_head(task: str) -> "list[str]":
    return ['T=${GRUNT_T:-%s}' % task] + _SWEEP_HEAD


_SWEEP_HEAD = [
    'P="job.$T."',
    '[ -e "$J/job.$T.end" ] && exit 0    # canceled before it started (cancel-runs)',
    'exec >>"$J/job.$T.out" 2>&1',
    'echo $$ >"$J/.job.$T.pid"',
    # the run works in runs/T/: it sees the project's top-level entries there
    # as symlinks, so relative paths (sh run.sh, data/, a config) still work
    'farm() {',
    '  for f in "$J"/* "$J"/.[!.]*; do n=${f##*/}',
    '    case $n in job.*|.job.*|grcmd.*|%s|.git|.tmp.*) continue;; esac' % protocol.RUNS_DIR,
    '    { [ -e "$f" ] || [ -L "$f" ]; } && ! [ -e "$n" ] && ! [ -L "$n" ] && ln -s "../../$n" "$n"',
    '  done; return 0',
    '}',
]


def _sweep_runs(sweep: dict) -> "list[str]":
    """The ``case`` that gives task T its arguments and environment."""
    q = shlex.quote
    lines = ['case $T in']
    for run in sweep["runs"]:
        lines.append(f"{run['task']}) R={int(run.get('repeat') or 0)}; set -- "
                     + " ".join(map(q, run["args"])) + " ;;")
    lines += ['*) echo "grunt: no run $T in job.sweep"; finish 1 ;;', 'esac',
              f'GRUNT_TASK=$T GRUNT_REPEAT=$R GRUNT_JOB_DIR="$J" GRUNT_RUN_DIR="$J/{protocol.RUNS_DIR}/$T"',
              'export GRUNT_TASK GRUNT_REPEAT GRUNT_JOB_DIR GRUNT_RUN_DIR']
    return lines
