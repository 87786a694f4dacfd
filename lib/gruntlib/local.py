"""The local engine: the job as a plain background process, where there is no scheduler.

The job gets the same files and states as under Slurm.  job.sh is the script
of job.sbatch without the #SBATCH lines; it runs in a new session, so it is
its own process group and outlives grunter, with stdout and stderr in
job.out, and job.pid names the group leader.  The script records job.start,
job.end and job.exitcode itself.  An array runs its tasks one after the other,
each with SLURM_ARRAY_TASK_ID set and its output in job.<task>.out, so a program
written for a Slurm array runs unchanged.  Resource settings (time, memory,
...) are not enforced here.
"""
import os
import signal
import subprocess
import sys
import time

from . import protocol, sweep as sweep_mod
from .jobdir import JobDir, Outcome, ended
from .script import job_script

# Runs an array's tasks in turn; "$@" are the task ids.
_ARRAY_LOOP = 'for T do SLURM_ARRAY_TASK_ID=$T sh job.sh >"job.$T.out" 2>&1; done'
# Runs a sweep's tasks, at most $1 at once ("$@" after it are the task ids);
# each task's script sends its output to job.<task>.out itself.
_SWEEP_POOL = ('K=$1; shift; printf "%s\\n" "$@" | '
               'xargs -n 1 -P "$K" sh -c \'SLURM_ARRAY_TASK_ID=$0 exec sh job.sh\'')


def submit(job: JobDir, conf: dict) -> int:
    if job.submitted():
        print("grunter: the job has already been started; not starting it again", file=sys.stderr)
        return 0
    data = sweep_mod.load(job)
    job.write(protocol.LOCAL_SCRIPT, job_script(job, conf, sweep=data))
    argv = ["sh", protocol.LOCAL_SCRIPT]
    retried = sweep_mod.retried_tasks(job)    # a round of retries runs only those
    if data is not None:
        spec = sweep_mod.array_spec(data)
        argv = ["sh", "-c", _SWEEP_POOL, "sh", str(data.get("parallel") or 1),
                *map(str, retried or protocol.array_tasks(spec))]
        job.write(protocol.ARRAY, spec)
    elif conf["array"] is not None:
        argv = ["sh", "-c", _ARRAY_LOOP, "sh",
                *map(str, retried or protocol.array_tasks(conf["array"]))]
        job.write(protocol.ARRAY, conf["array"])
    with open(job.file(protocol.OUT), "ab") as out:
        proc = subprocess.Popen(argv, cwd=job.path, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    job.write(protocol.PID, str(proc.pid))
    job.write(protocol.STATUS, "RUNNING")
    print(f"started process {proc.pid}")
    return 0


def _proc_stat(pid: "str | int") -> "tuple[str, int] | None":
    """(state letter, process group) from /proc, None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """The job's leader still runs: it exists, is no zombie, and leads its session.

    The job is not grunter's child, so nothing reaps it but init; a zombie is
    dead.  A pid reused by an unrelated process would not lead a session.
    """
    try:
        os.kill(pid, 0)
        if os.getsid(pid) != pid:
            return False
    except (ProcessLookupError, PermissionError):
        return False
    stat = _proc_stat(pid) if os.path.isdir("/proc") else None
    return stat is None or stat[0] != "Z"


def _group_alive(pgid: int) -> bool:
    """Some process of the group, zombies aside, still exists."""
    if not os.path.isdir("/proc"):
        try:
            os.killpg(pgid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _proc_stat(name)
            if stat and stat[1] == pgid and stat[0] != "Z":
                return True
    return False


def _pid(job: JobDir) -> int:
    text = job.read(protocol.PID) or ""
    return int(text) if text.isdigit() else 0


def status(job: JobDir, conf: dict) -> int:
    pid = _pid(job)
    running = bool(pid) and _alive(pid)
    for unit in job.units():
        if job.settled(unit) or (job.status(unit) or ("",))[0] == "CANCELLED":
            continue    # a run canceled on its own (cancel_runs) stays so
        outcome = ended(job, unit)
        if outcome is None:
            if running:
                started = job.has(protocol.task_file(unit, "start"))
                outcome = Outcome("RUNNING" if started else "PENDING")
            elif job.has(protocol.CANCELED):
                outcome = Outcome("CANCELLED")
            else:
                outcome = Outcome("FAILED", "process vanished without recording an exit code")
        job.record(unit, outcome)
    job.summarize()
    job.print_status()
    return 0


def cancel(job: JobDir, conf: dict) -> int:
    """SIGTERM to the job's process group, SIGKILL after ``kill_wait`` seconds."""
    if all(job.has(protocol.task_file(u, "end")) for u in job.units()):
        print(f"grunter: job {job.jobid} has already ended", file=sys.stderr)
        return 0
    job.write(protocol.CANCELED, protocol.now_ts())     # before: see jobdir.ended
    pid = _pid(job)
    if pid and _alive(pid):
        _terminate(pid, float(conf["kill_wait"]))
    return status(job, conf)


def cancel_runs(job: JobDir, conf: dict, tasks: "list[int]") -> int:
    """Cancel some runs of a sweep: SIGTERM to a running one's script, which passes
    it on; one not started yet gets its end now and is skipped when its turn comes."""
    for task in tasks:
        if job.has(protocol.task_file(task, "end")):
            continue
        sweep_mod.mark_canceled(job, task)
        pid = (job.read(f".job.{task}.pid") or "").strip()
        if not job.has(protocol.task_file(task, "start")) or not pid.isdigit():
            job.write(protocol.task_file(task, "end"), protocol.now_ts())
            continue
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            pass
    return status(job, conf)


def _terminate(pgid: int, grace: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while _group_alive(pgid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            return


def queue(job: JobDir, conf: dict) -> int:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"no scheduler: jobs run as background processes on {os.uname().nodename} "
          f"({os.cpu_count()} CPUs, load {load})")
    return 0
