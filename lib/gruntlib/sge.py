"""The Grid Engine engine (SGE, Son of Grid Engine, UGE): job.sge and qsub, qstat, qdel, qacct.

Where a unit's state comes from, in order, as on Slurm:

1. The job's own files: the script records job.start, job.end and job.exitcode
   (job.<task>.* for an array task); a settled unit is not asked about again.
2. One ``qstat -xml -u USER`` a round for all the user's jobs (engine.snapshot).
   ``Eqw`` (the job cannot start, and Grid Engine keeps it queued for ever) is
   Failed with ``qstat -j``'s error reason, and the job is deleted.
3. Once a unit has left qstat: ``qacct -j N`` (``failed`` and ``exit_status``):
   ``failed 37`` is the h_rt limit (Timeout), ``failed 100`` with exit 137 a
   qdel (Canceled), other ``failed`` codes a start that went wrong.  Grid
   Engine writes accounting records up to ``flush_time`` late, so a unit gone
   with no record yet is given ACCOUNTING_WAIT seconds before its own files
   decide.

Grid Engine's array task ids start at 1 and form one range: an array spec
``first-last[:step][%K]`` is submitted as ``-t`` shifted by one when it starts
at 0, and ``%K`` as ``-tc K``.  A sweep (job.sweep) is one such array of all
its runs; run T is Grid Engine's task T+1.
"""
import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET

from . import engine, protocol, retry, sweep as sweep_mod
from .jobdir import JobDir, Outcome, RunnerError, ended
from .script import job_script

CLUSTER = "Grid Engine"
ACCOUNTING_WAIT = 60.0   # seconds a unit gone from qstat may lack its qacct record
ARRAY_SPEC_RE = re.compile(r"^(\d+)(?:-(\d+)(?::(\d+))?)?(?:%(\d+))?$")
TERSE_RE = re.compile(r"^(\d+)(?:\.\S*)?$")
ERROR_REASON_RE = re.compile(r"^error reason\s+(\d+):\s*(.*)$", re.M)
# qacct's "failed" codes (sge_status(5)) that are not the program's own end
LIMIT_KILLED = 37        # h_rt, h_cpu or h_vmem enforced
KILLED = 100             # "assumedly after job": a signal, qdel among them
SIGKILL_STATUS = 137


def _run(argv: "list[str]", cwd: "str | None" = None):
    return engine.run(argv, cwd, CLUSTER)


def h_rt(value: object) -> int:
    """A time setting in Slurm's forms ("30" minutes, "M:S", "H:M:S", "D-H[:M[:S]]") as seconds."""
    try:
        return retry.time_seconds(str(value))
    except ValueError:
        raise RunnerError("setting time is not a time like 30, 1:30:00 or 1-00:00:00: "
                          f"{str(value).strip()!r}") from None


def array_plan(spec: str, off: "int | None" = None) -> "tuple[str, int, str | None]":
    """(``-t`` range, offset from Grid Engine's task id to the job's, ``-tc`` limit);
    ``off``: the whole array's offset, for a part of it (a round of retries)."""
    m = ARRAY_SPEC_RE.match(spec)
    if not m:
        raise RunnerError(f"Grid Engine arrays are one range first-last[:step][%K], not {spec!r}")
    first = int(m.group(1))
    last = int(m.group(2) or first)
    step = int(m.group(3) or 1)
    if last < first or step < 1:
        raise RunnerError(f"the array range {spec!r} is empty")
    off = (1 if first == 0 else 0) if off is None else off
    return f"{first + off}-{last + off}:{step}", off, m.group(4)


def header(job: JobDir, conf: dict, off: "int | None" = None) -> "list[str]":
    """The ``#$`` lines of job.sge (a sweep: ``conf["array"]`` is its tasks; ``off``
    as array_plan's)."""
    opts = [f"-N {job.jobid}", "-S /bin/sh", "-V", "-j y", "-o /dev/null"]
    if conf["time"] is not None:
        opts.append(f"-l h_rt={h_rt(conf['time'])}")
    if conf["memory"] is not None:
        opts.append(f"-l {conf['memory_resource']}={conf['memory']}")
    if conf["cpus"] is not None:
        opts.append(f"-pe {conf['pe']} {conf['cpus']}")
    queue = conf["queue"] or conf["partition"]
    if queue is not None:
        opts.append(f"-q {queue}")
    if conf["project"] is not None:
        opts.append(f"-P {conf['project']}")
    if conf["account"] is not None:
        opts.append(f"-A {conf['account']}")
    if conf["array"] is not None:
        rng, _, limit = array_plan(conf["array"], off)
        opts.append(f"-t {rng}")
        if limit:
            opts.append(f"-tc {limit}")
    lines = [f"#$ {o}" for o in opts]
    return lines + [ln.strip() if ln.strip().startswith("#$") else f"#$ {ln.strip()}"
                    for ln in conf["sge"]]


def _retry_span(spec: str, retried: "list[int] | None") -> str:
    """In a round of retries (job.attempt's tasks), the array spec of the span from
    the first retried task to the last; its other tasks find their end recorded
    and exit at once (a -t range cannot skip them)."""
    if not retried:
        return spec
    limit = spec.partition("%")[2]
    return f"{min(retried)}-{max(retried)}" + (f"%{limit}" if limit else "")


def _script(job: JobDir, conf: dict, sweep: "dict | None") -> str:
    """job.sge.  A sweep is one array of all its runs (Grid Engine's max_aj_tasks
    is 75,000 by default), at most ``parallel`` at once; ``pack`` is Slurm's only."""
    if sweep is not None:
        conf = dict(conf, array=sweep_mod.array_spec(sweep)
                    + (f"%{sweep['parallel']}" if sweep.get("parallel") else ""))
    whole = conf["array"]
    off = array_plan(whole)[1] if whole is not None else 0
    if whole is not None:
        conf = dict(conf, array=_retry_span(whole, sweep_mod.retried_tasks(job)))
    head = header(job, conf, off)
    if sweep is not None:
        return job_script(job, conf, head, sweep=sweep, sweep_task="$((SGE_TASK_ID - 1))")
    task = f"$((SGE_TASK_ID - {off}))" if off else "${SGE_TASK_ID}"
    # Grid Engine opens -o itself and cannot name it by the job's own task id:
    # the script sends its output to job.out / job.<task>.out as on Slurm.
    skip = ['[ -e "$J/${P}end" ] && exit 0    # (a round of retries: not this task)'] \
        if whole is not None else []
    return job_script(job, conf, head, task=task, preamble=skip + ['exec >>"$J/${P}out" 2>&1'])


def _offset(job: JobDir) -> int:
    spec = job.read(protocol.ARRAY)
    return array_plan(spec)[1] if spec else 0


# -- the user's jobs, as qstat shows them -------------------------------------
def _expand(tasks: str) -> "list[int]":
    """qstat's task field: ``3``, ``3,4``, ``1-4:1`` (pending tasks)."""
    return protocol.array_tasks(tasks)


def parse_qstat(xml_text: str) -> "dict[tuple[str, int | None], tuple[str, str]]":
    """{(job number, Grid Engine task or None): (state letters, name)} from ``qstat -xml``."""
    rows = {}
    if not xml_text.strip():
        return rows
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as e:
        raise RunnerError(f"cannot read qstat -xml's output ({e})") from None
    for el in root.iter("job_list"):
        number = (el.findtext("JB_job_number") or "").strip()
        state = (el.findtext("state") or "").strip()
        name = (el.findtext("JB_name") or "").strip()
        tasks = (el.findtext("tasks") or "").strip()
        if not number.isdigit():
            continue
        for task in (_expand(tasks) if tasks else [None]):
            rows[(number, task)] = (state, name)
    return rows


def _qstat(job: JobDir, fresh: bool = False) -> "dict[tuple[str, int | None], tuple[str, str]]":
    argv = ["qstat", "-xml", "-u", engine.user()]
    if fresh:
        p = _run(argv)
        if p.returncode != 0:
            raise RunnerError(f"qstat failed: {engine.message(p)}")
        return parse_qstat(p.stdout)
    return parse_qstat(engine.snapshot(job, protocol.QSTAT_CACHE, argv, CLUSTER))


def _details(number: str) -> "str | None":
    """``qstat -j N``'s text; None once the job has left the queue."""
    p = _run(["qstat", "-j", number])
    return p.stdout if p.returncode == 0 else None


def _submitted(job: JobDir) -> "str | None":
    """The Grid Engine job of this grunt job if it is already queued: same name and directory."""
    try:
        rows = _qstat(job, fresh=True)
    except RunnerError as e:
        print(f"grunter: warning: cannot look for the job in the queue: {e}", file=sys.stderr)
        return None
    here = os.path.realpath(job.path)
    earlier = engine.earlier_attempts(job, protocol.SGEID)     # (retries: not this attempt)
    for number in sorted({n for (n, _), (_, name) in rows.items()
                          if name == job.jobid and n not in earlier}):
        text = _details(number) or ""
        m = re.search(r"^cwd:\s*(.*?)\s*$", text, re.M)
        if m and os.path.realpath(m.group(1)) == here:
            return number
    return None


def _recorded(job: JobDir, number: str, conf: dict, sweep: "dict | None") -> None:
    if sweep is not None:
        job.write(protocol.ARRAY, sweep_mod.array_spec(sweep))
    elif conf["array"] is not None:
        job.write(protocol.ARRAY, conf["array"])
    job.write(protocol.SGEID, number)
    job.write(protocol.STATUS, "PENDING")
    engine.drop_snapshot(job, protocol.QSTAT_CACHE)


def submit(job: JobDir, conf: dict) -> int:
    """Write job.sge and qsub it, exactly once (as slurm.submit)."""
    if engine.already_submitted(job, protocol.SGEID, CLUSTER):
        return 0
    sweep = sweep_mod.load(job)
    if sweep is not None and job.has(protocol.CANCELED):
        return 0
    try:
        job.write(protocol.SGE_SCRIPT, _script(job, conf, sweep))
    except RunnerError as e:
        job.fail(str(e))
        raise
    number = _submitted(job)
    if number:
        _recorded(job, number, conf, sweep)
        print(f"found Grid Engine job {number} already submitted for {job.jobid}")
        return 0
    p = _run(["qsub", "-terse", "-wd", job.path, protocol.SGE_SCRIPT], cwd=job.path)
    m = TERSE_RE.match(p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "")
    number = m.group(1) if m and p.returncode == 0 else (_submitted(job) if p.returncode == 0 else None)
    if p.returncode != 0 or not number:
        text = engine.message(p) if p.returncode != 0 else (
            f"no job number in qsub's output: {p.stdout.strip()!r}")
        job.fail(text)
        raise RunnerError(f"qsub failed: {text.splitlines()[0]}")
    _recorded(job, number, conf, sweep)
    print(f"Your job {number} has been submitted")
    return 0


# -- states -------------------------------------------------------------------
def _queued_outcome(letters: str) -> Outcome:
    """A unit still in qstat, by its state letters (Eqw is handled by the caller)."""
    if "d" in letters:
        return Outcome("RUNNING", "being deleted")
    if "s" in letters or "S" in letters or "T" in letters:
        return Outcome("RUNNING", "suspended")
    if "r" in letters or "t" in letters:
        return Outcome("RUNNING")
    if "h" in letters:
        return Outcome("PENDING", "held")
    return Outcome("PENDING")


def _timestamp(text: str) -> "str | None":
    """qacct's local ``Wed Dec  2 01:56:44 2026`` as a protocol timestamp (UTC)."""
    try:
        epoch = time.mktime(time.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y"))
    except ValueError:
        return None
    return time.strftime(protocol.TS_FORMAT, time.gmtime(epoch))


def parse_qacct(text: str) -> "dict[int | None, dict[str, str]]":
    """qacct -j's blocks, by Grid Engine task (None for a plain job): {field: value}."""
    found = {}
    for block in re.split(r"^=+\s*$", text, flags=re.M):
        rec = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            if key:
                rec[key] = value.strip()
        if "failed" in rec and "exit_status" in rec:
            task = rec.get("taskid", "undefined")
            found[int(task) if task.isdigit() else None] = rec
    return found


def accounted(job: JobDir, rec: "dict[str, str]", unit: "int | None") -> Outcome:
    """A unit's outcome from its qacct record (and its own files, which know better)."""
    failed = int((rec.get("failed") or "0").split()[0] or 0)
    status_word = (rec.get("exit_status") or "").split()
    code = int(status_word[0]) if status_word and status_word[0].isdigit() else None
    end = _timestamp(rec.get("end_time", ""))
    own = ended(job, unit)
    if failed == 0 and own is not None:
        return own
    if failed == 0:
        return Outcome("COMPLETED" if code == 0 else "FAILED",
                       "" if code == 0 else "NonZeroExitCode", code, end)
    if failed == LIMIT_KILLED:
        return Outcome("TIMEOUT", "", code, end)
    if failed == KILLED and (code == SIGKILL_STATUS or job.has(protocol.CANCELED)):
        return Outcome("CANCELLED", "", code, end)
    reason = rec.get("failed", "").partition(":")[2].strip() or f"failed {failed}"
    return Outcome("FAILED", reason, code, end)


def _qacct(number: str) -> "dict[int | None, dict[str, str]]":
    p = _run(["qacct", "-j", number])
    return parse_qacct(p.stdout) if p.returncode == 0 else {}


def _gone_since(job: JobDir, key: str, forget: bool = False) -> float:
    """When a unit was first seen gone from qstat without a qacct record (now if new)."""
    path = protocol.state_file(protocol.JobPath.top_of(job.path), protocol.SGE_GONE)
    try:
        with open(path, encoding="utf-8") as f:
            seen = json.load(f)
    except (OSError, ValueError):
        seen = {}
    now = time.time()
    first = seen.pop(key, now) if forget else seen.setdefault(key, now)
    if forget or first == now:
        try:
            protocol.write_atomic(path, json.dumps(seen))
        except OSError:
            pass
    return first


def _error_reason(number: str, sge_task: "int | None") -> str:
    for task, reason in ERROR_REASON_RE.findall(_details(number) or ""):
        if sge_task is None or int(task) == sge_task:
            return reason.strip()
    return "the job cannot start (Eqw)"


def _gone(job: JobDir, number: str, units: "list[int | None]", off: int) -> None:
    """Units no longer in qstat: their qacct records, else (after a while) their files."""
    records = _qacct(number)
    for unit in units:
        sge_task = None if unit is None else unit + off
        key = f"{number}.{sge_task}"
        rec = records.get(sge_task)
        if rec is not None:
            _gone_since(job, key, forget=True)
            job.record(unit, accounted(job, rec, unit))
            continue
        own = ended(job, unit)
        if own is None and job.has(protocol.CANCELED):
            own = Outcome("CANCELLED")      # deleted while pending: Grid Engine keeps no record
        if own is None and time.time() - _gone_since(job, key) > ACCOUNTING_WAIT:
            own = Outcome("FAILED", "unknown to Grid Engine and no exit code recorded")
        if own is not None:
            _gone_since(job, key, forget=True)
            job.record(unit, own)


def status(job: JobDir, conf: dict) -> int:
    """Update job.status (and the units' files) from Grid Engine; print it."""
    number = job.read(protocol.SGEID)
    if number:
        off = _offset(job)
        units = [u for u in job.units() if not job.settled(u)]
        rows = _qstat(job) if units else {}
        gone = []
        for unit in units:
            row = rows.get((number, None if unit is None else unit + off))
            if row is None:
                gone.append(unit)
            elif "E" in row[0]:
                sge_task = None if unit is None else unit + off
                job.record(unit, Outcome("FAILED", _error_reason(number, sge_task)))
                _run(["qdel", number] + ([] if sge_task is None else ["-t", str(sge_task)]))
                engine.drop_snapshot(job, protocol.QSTAT_CACHE)
            else:
                # qstat shows a task for about a second after its script has ended:
                # the end the script recorded is the truth by then
                job.record(unit, ended(job, unit) or _queued_outcome(row[0]))
        if gone:
            _gone(job, number, gone, off)
        job.summarize()
    job.print_status()
    return 0


def cancel(job: JobDir, conf: dict) -> int:
    def qdel(number: str):
        p = _run(["qdel", number])
        if p.returncode != 0 and "does not exist" in engine.message(p):
            p.returncode = 0            # it had just ended: status says how
        return p
    return engine.cancel(job, protocol.SGEID, qdel, protocol.QSTAT_CACHE, CLUSTER)


def cancel_runs(job: JobDir, conf: dict, tasks: "list[int]") -> int:
    """qdel some runs of a sweep (``qdel N -t <task+1>``); a pending one leaves qstat
    at once with no accounting record, so it is recorded Canceled here."""
    number = job.read(protocol.SGEID)
    todo = [t for t in tasks if not job.settled(t)]
    for t in todo:
        if number:
            p = _run(["qdel", number, "-t", str(t + _offset(job))])
            if p.returncode != 0 and "does not exist" not in engine.message(p):
                raise RunnerError(f"qdel failed: {engine.message(p)}")
        if not job.has(protocol.task_file(t, "start")):
            job.record(t, Outcome("CANCELLED"))
    if todo:
        engine.drop_snapshot(job, protocol.QSTAT_CACHE)
        print(f"cancelled {' '.join(f'{job.jobid}_{t}' for t in todo)}")
    return status(job, conf)


def queue(job: JobDir, conf: dict) -> int:
    """The user's jobs and the cluster queues' slots, as qstat shows them."""
    return engine.show([["qstat", "-u", engine.user()], ["qstat", "-g", "c"]], CLUSTER)

