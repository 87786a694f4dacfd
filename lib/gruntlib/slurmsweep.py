"""The Slurm engine for a sweep (a job with ``job.sweep``): job arrays in chunks.

MaxArraySize (``scontrol show config``) caps an array's task *index*, so every
chunk is an array ``0-(n-1)`` of its own whose script adds the chunk's first
task (GRUNT_TASK_BASE) to SLURM_ARRAY_TASK_ID.  ``job.chunks`` records each
sbatch call at once: ``<first task> <number of tasks> <Slurm id>``.  With
``pack`` P each array task runs P runs in turn (job.sbatch loops over
``job.run``, the script of one run), for sites that cap arrays very low.
Everything else is the plain Slurm engine's (slurm.py).
"""
import math
import re
import sys

from . import protocol, slurm, sweep as sweep_mod
from .jobdir import JobDir, Outcome, RunnerError, ended
from .script import job_script

RUN_SCRIPT = "job.run"          # one run of a packed sweep (the array task loops over it)
# a refusal that only says "not now": the user's job limit is reached
LIMIT_RE = re.compile(r"MaxSubmit|submit limit", re.I)
cancel = slurm.cancel
queue = slurm.queue


def _max_array() -> int:
    """The cluster's MaxArraySize, else Slurm's default."""
    p = slurm._run(["scontrol", "show", "config"])
    m = re.search(r"^MaxArraySize\s*=\s*(\d+)", p.stdout, re.M) if p.returncode == 0 else None
    return int(m.group(1)) if m else sweep_mod.DEFAULT_MAX_ARRAY


def _pack_loop(data: dict, header: "list[str]") -> str:
    """job.sbatch of a packed sweep: array task i runs runs F .. F+P-1 in turn."""
    pack, runs = data["pack"], len(data["runs"])
    return "\n".join([
        "#!/bin/sh", *header,
        f"# each array task runs {pack} runs of the sweep in turn ({RUN_SCRIPT} is one run)",
        f'F=$((${{GRUNT_TASK_BASE:-0}} + ${{SLURM_ARRAY_TASK_ID:-0}} * {pack}))',
        "T=$F; stop=; c=",
        "trap 'stop=1; [ -n \"$c\" ] && kill -TERM \"$c\" 2>/dev/null' TERM",
        f'while [ "$T" -lt $((F + {pack})) ] && [ "$T" -lt {runs} ] && [ -z "$stop" ]; do',
        f'  GRUNT_T=$T sh {RUN_SCRIPT} & c=$!',
        '  wait "$c"; while kill -0 "$c" 2>/dev/null; do wait "$c"; done',
        "  T=$((T + 1))",
        "done", ""])


def _scripts(job: JobDir, conf: dict, data: dict, first: str) -> None:
    header = slurm.sbatch_header(job, conf, first)
    if (data.get("pack") or 1) > 1:
        job.write(RUN_SCRIPT, job_script(job, conf, (), data))
        job.write(protocol.SBATCH, _pack_loop(data, header))
    else:
        job.write(protocol.SBATCH, job_script(job, conf, header, data))


def submit(job: JobDir, conf: dict) -> int:
    """Submit a sweep as few job arrays as MaxArraySize allows, each chunk exactly once.

    A chunk refused because the user's job limit is reached (MaxSubmitJobs)
    is left for later: ``status`` submits it once there is room.  With
    ``parallel`` K each chunk carries %K and waits for the one before, so K
    holds for the whole sweep.
    """
    data = sweep_mod.load(job)
    if job.has(protocol.ERROR):
        raise RunnerError(f"the submission failed before: {job.read(protocol.ERROR)}")
    if job.has(protocol.CANCELED):
        return 0
    plan, limit = _plan(job, data), f"%{data['parallel']}" if data.get("parallel") else ""
    par, runs = data.get("parallel"), len(data["runs"])
    if not job.has(protocol.SBATCH):
        job.write(protocol.ARRAY, sweep_mod.array_spec(data))
        retried = sweep_mod.retried_tasks(job) is not None   # one run a chunk, unpacked
        _scripts(job, conf, dict(data, pack=1) if retried else data,
                 f"0-{plan[0][1] - 1}{limit}")
    done = {base for base, _, _ in sweep_mod.chunks_of(job)}
    for base, width, count in plan:
        if base in done:
            continue
        after = [f"--dependency=afterany:{sweep_mod.chunks_of(job)[-1][2]}"] if par and done else []
        p = slurm._run(["sbatch", f"--chdir={job.path}", f"--array=0-{width - 1}{limit}", *after,
                        protocol.SBATCH], cwd=job.path, env={"GRUNT_TASK_BASE": str(base)})
        m = slurm.SUBMITTED_RE.search(p.stdout)
        if p.returncode != 0 or not m:
            message = slurm._message(p)
            if LIMIT_RE.search(message):
                print(f"grunter: waiting for room for tasks {base}..{runs - 1}: {message}",
                      file=sys.stderr)
                job.write(protocol.CHUNKS, job.read(protocol.CHUNKS) or "")
                break
            if not done:
                job.fail(message)
                raise RunnerError(f"sbatch failed: {message.splitlines()[0]}")
            raise RunnerError(f"sbatch failed for tasks {base}..{base + count - 1}: {message}")
        lines = (job.read(protocol.CHUNKS) or "") + f"\n{base} {count} {m.group(1)}"
        job.write(protocol.CHUNKS, lines.strip("\n"))
        done.add(base)
        if not job.has(protocol.SLURMID):
            job.write(protocol.SLURMID, m.group(1))
        print(f"Submitted batch job {m.group(1)} (tasks {base}..{base + count - 1})")
    slurm._drop_cache(job)
    job.summarize()
    return 0


def _plan(job: JobDir, data: dict) -> "list[tuple[int, int, int]]":
    """(first task, array width, runs) of each sbatch call; a round of retries
    (job.attempt's tasks) is one call a retried run."""
    retried = sweep_mod.retried_tasks(job)
    if retried is not None:
        return [(t, 1, 1) for t in retried]
    runs, pack = len(data["runs"]), data.get("pack") or 1
    return [(b * pack, c, min(runs, (b + c) * pack) - b * pack)
            for b, c in sweep_mod.chunks(math.ceil(runs / pack), _max_array())]


def _ids(job: JobDir, pack: int):
    """units -> {task: (Slurm id, array index)}; tasks not handed to Slurm yet left out."""
    chunks = sweep_mod.chunks_of(job)

    def ids(units: list) -> dict:
        found = {}
        for u in units:
            for base, count, sid in chunks:
                if u is not None and base <= u < base + count:
                    found[u] = (sid, (u - base) // pack)
        return found
    return ids


def status(job: JobDir, conf: dict) -> int:
    """Submit the chunks that waited for room, then the runs' states as slurm.py finds them.

    In a packed array task squeue's state is the pack's: a run that has not
    started is still pending, and one that recorded its end is what it says.
    """
    data = sweep_mod.load(job)
    retried = sweep_mod.retried_tasks(job)
    pack = 1 if retried is not None else data.get("pack") or 1
    handed = sum(count for _, count, _ in sweep_mod.chunks_of(job))
    if handed < len(retried or data["runs"]) and not job.has(protocol.CANCELED):
        submit(job, conf)

    def amend(unit: int, outcome: Outcome) -> Outcome:
        if pack > 1 and outcome.state not in ("PENDING",):
            own = ended(job, unit)
            if own is not None:
                return own
            if outcome.state == "RUNNING" and not job.has(protocol.task_file(unit, "start")):
                return Outcome("PENDING", "waits in its pack")
        return outcome
    if job.read(protocol.SLURMID):
        slurm.refresh(job, _ids(job, pack), amend if pack > 1 else None)
    job.print_status()
    return 0


def cancel_runs(job: JobDir, conf: dict, tasks: "list[int]") -> int:
    """scancel some runs (``<slurm id>_<index>``; for a packed sweep only runs that
    run: the others are recorded canceled and skipped when their turn comes)."""
    pack = 1 if sweep_mod.retried_tasks(job) else sweep_mod.load(job).get("pack") or 1
    ids = _ids(job, pack)(list(tasks))
    todo = sorted({f"{ids[t][0]}_{ids[t][1]}" for t in tasks if t in ids and not job.settled(t)
                   and (pack == 1 or job.has(protocol.task_file(t, "start")))})
    if todo:
        p = slurm._run(["scancel", *todo])
        if p.returncode != 0:
            raise RunnerError(f"scancel failed: {slurm._message(p)}")
        slurm._drop_cache(job)
        print(f"cancelled {' '.join(todo)}")
    for t in tasks:     # a pending task canceled leaves squeue at once, and no record
        if not job.has(protocol.task_file(t, "start")) and not job.settled(t):
            job.record(t, Outcome("CANCELLED"))
    return status(job, conf)
