"""A sweep on the real Slurm (MaxArraySize=4 in the test cluster): chunked arrays,
%K, per-run states and exit codes, resubmit --failed --time 2x."""
from __future__ import annotations

import json
import os

from test_cli_sweep import most_at_once
from test_server_taskretries import FLAKY_RUN, FLAKY_TASK, check_array_task_retried, recs
from test_slurm import example, rounds_until

RUN_SH = '''echo "s $(date +%s.%N)" >> "$TRACE"
echo "run $GRUNT_TASK: $*"
echo "$2 $4" > result.txt
sleep 1
echo "e $(date +%s.%N)" >> "$TRACE"
[ "$2" = b ] && [ "$4" = 2 ] && exit 3
exit 0
'''


def test_a_sweep_on_slurm_in_chunks_with_a_failing_run(core, slurm, tmp_path):
    trace = str(tmp_path / "trace")
    core.newproj("p")
    top = core.project("p", grunter="", run_sh=f"TRACE={trace}\n" + RUN_SH,
                       files={"grunter.py": example(time="0:10:00")})
    r = core.grunt("sweep", "x=a,b", "seed=1..3", "--parallel", "2", "-m", "grid", cwd=top).ok()
    jid = r.out.split(":")[0]
    core.grund()
    # run 5 is in the second chunk, which waits for the first: canceled on its own
    assert core.grunt("cancel", f"{jid}_5", cwd=top).ok().out.endswith(f"cancel {jid}_5\n")
    core.grund()
    job = core.sjob(jid)
    # 6 runs, MaxArraySize 4: two sbatch calls, each an array from index 0
    chunks = [ln.split()[:2] for ln in core.read(os.path.join(job, "job.chunks")).splitlines()]
    assert chunks == [["0", "4"], ["4", "2"]]
    sbatch = core.read(os.path.join(job, "job.sbatch"))
    assert "#SBATCH --array=0-3%2" in sbatch and "#SBATCH --time=0:10:00" in sbatch

    jobs = rounds_until(core, top, lambda js: js[jid]["status"] not in ("Pending", "Running"))
    got = [(t["label"], t["status"], t["exit_code"]) for t in jobs[jid]["tasks"]]
    assert got[:5] == [(f"x={x} seed={s}", "Failed" if (x, s) == ("b", 2) else "Done",
                        3 if (x, s) == ("b", 2) else 0) for x in "ab" for s in (1, 2, 3)][:5]
    assert got[5][:2] == ("x=b seed=3", "Canceled") and jobs[jid]["status"] == "Failed"
    assert most_at_once(trace) <= 2                      # --parallel 2 over both chunks
    assert core.grunt("out", f"{jid}_4", cwd=top).ok().out == "run 4: --x b --seed 2\n"
    core.grunt("pull", cwd=top).ok()
    res = core.cjob(jid, kind="results")
    assert [core.read(os.path.join(res, "runs", str(t), "result.txt")) for t in range(5)] == \
        [f"{x} {s}\n" for x in "ab" for s in (1, 2, 3)][:5]

    again = core.grunt("resubmit", jid, "--failed", "--time", "2x", "-m", "longer",
                       cwd=top).ok().out.strip()
    core.grund()
    assert "#SBATCH --time=00:20:00" in core.read(os.path.join(core.sjob(again), "job.sbatch"))
    jobs = rounds_until(core, top, lambda js: js[again]["status"] not in ("Pending", "Running"))
    assert [(t["label"], t["exit_code"]) for t in jobs[again]["tasks"]] == [("x=b seed=2", 3)]
    redo = json.loads(core.read(os.path.join(core.cjob(again), "job.sweep")))
    assert redo["runs"][0]["from"] == 4


def test_a_packed_sweep_runs_several_runs_per_array_task(core, slurm):
    core.newproj("p")
    top = core.project("p", grunter="", files={"grunter.py": example()},
                       run_sh='echo "run $GRUNT_TASK: $*"\n[ "$2" != 4 ] || exit 3\n')
    jid = core.grunt("sweep", "n=1..5", "--pack", "2", "-m", "packed", cwd=top).ok().out.split(":")[0]
    core.grund()
    job = core.sjob(jid)
    assert [ln.split()[:2] for ln in core.read(os.path.join(job, "job.chunks")).splitlines()] == \
        [["0", "5"]]                                   # 3 array tasks, under MaxArraySize 4
    assert "#SBATCH --array=0-2" in core.read(os.path.join(job, "job.sbatch"))
    jobs = rounds_until(core, top, lambda js: js[jid]["status"] not in ("Pending", "Running"))
    assert [(t["status"], t["exit_code"]) for t in jobs[jid]["tasks"]] == \
        [("Done", 0)] * 3 + [("Failed", 3), ("Done", 0)]
    assert core.grunt("out", f"{jid}_4", cwd=top).ok().out == "run 4: --n 5\n"


def test_a_sweep_on_grid_engine_its_canceled_run_and_its_failed_rerun(core, sge, tmp_path):
    """The same sweep through grunt and grund on a real Grid Engine: one array (-t 1-6,
    -tc 2), per-run states, a run canceled on its own, resubmit --failed --time 2x."""
    trace = str(tmp_path / "trace")
    core.newproj("p")
    top = core.project("p", grunter="", run_sh=f"TRACE={trace}\n" + RUN_SH,
                       files={"grunter.py": example(runner="sge", time="0:10:00")})
    jid = core.grunt("sweep", "x=a,b", "seed=1..3", "--parallel", "2", "-m", "grid",
                     cwd=top).ok().out.split(":")[0]
    core.grund()
    script = core.read(os.path.join(core.sjob(jid), "job.sge"))
    assert "#$ -t 1-6:1" in script and "#$ -tc 2" in script and "#$ -l h_rt=600" in script
    core.grunt("cancel", f"{jid}_5", cwd=top).ok()
    jobs = rounds_until(core, top, lambda js: js[jid]["status"] not in ("Pending", "Running"))
    got = [(t["label"], t["status"], t["exit_code"]) for t in jobs[jid]["tasks"]]
    assert got[:5] == [(f"x={x} seed={s}", "Failed" if (x, s) == ("b", 2) else "Done",
                        3 if (x, s) == ("b", 2) else 0) for x in "ab" for s in (1, 2, 3)][:5]
    assert got[5][:2] == ("x=b seed=3", "Canceled") and jobs[jid]["status"] == "Failed"
    assert most_at_once(trace) <= 2
    assert core.grunt("out", f"{jid}_4", cwd=top).ok().out == "run 4: --x b --seed 2\n"
    core.grunt("pull", cwd=top).ok()
    res = core.cjob(jid, kind="results")
    assert core.read(os.path.join(res, "runs", "3", "result.txt")) == "b 1\n"

    again = core.grunt("resubmit", jid, "--failed", "--time", "2x", "-m", "longer",
                       cwd=top).ok().out.strip()
    core.grund()
    assert "#$ -l h_rt=1200" in core.read(os.path.join(core.sjob(again), "job.sge"))
    jobs = rounds_until(core, top, lambda js: js[again]["status"] not in ("Pending", "Running"))
    assert [(t["label"], t["exit_code"]) for t in jobs[again]["tasks"]] == [("x=b seed=2", 3)]


def test_a_failed_run_of_a_sweep_on_slurm_is_retried_alone_with_more_time(core, slurm):
    core.newproj("p")
    top = core.project("p", grunter="", run_sh=FLAKY_RUN, files={"grunter.py": example(
        time="0:10:00", retry={"FAILED": {"time": "2x", "max": 2}})})
    jid = core.grunt("sweep", "t=1..3", "-m", "flaky", cwd=top).ok().out.split(":")[0]
    jobs = rounds_until(core, top, lambda js: js[jid]["status"] == "Done"
                        and len(js[jid].get("attempts", [])) == 4, timeout=40)
    assert [(t["status"], t.get("attempt", 1)) for t in jobs[jid]["tasks"]] == [
        ("Done", 1), ("Done", 2), ("Done", 1)]
    job = core.sjob(jid)
    assert "#SBATCH --time=0:10:00" in core.read(os.path.join(job, "job.try1.sbatch"))
    assert "#SBATCH --time=00:20:00" in core.read(os.path.join(job, "job.sbatch"))
    first = core.read(os.path.join(job, "job.try1.chunks")).split()
    again = core.read(os.path.join(job, "job.chunks")).split()
    assert first[:2] == ["0", "3"] and again[:2] == ["1", "1"] and again[2] != first[2]
    assert [(r.get("task"), r["attempt"], r.get("state")) for r in recs(core, jid)] == [
        (1, 1, "FAILED"), (None, 1, None), (1, 2, "COMPLETED"), (None, 2, None)]
    assert core.read(os.path.join(job, "job.1.try1.out")) == "first\n"
    assert core.grunt("out", f"{jid}_1", cwd=top).ok().out == "ok 2\n"
    assert "Done (attempt 2 of 2)" in core.grunt("jobs", jid, cwd=top).ok().out


def test_a_failed_task_of_an_array_on_slurm_is_retried_alone(core, slurm):
    core.newproj("p")
    top = core.project("p", grunter="", run_sh=FLAKY_TASK, files={"grunter.py": example(
        array="0-2", retry={"FAILED": {"max": 2}})})
    _, job = check_array_task_retried(core, top)
    assert "#SBATCH --array=0-2" in core.read(os.path.join(job, "job.try1.sbatch"))
    assert "#SBATCH --array=1\n" in core.read(os.path.join(job, "job.sbatch"))
    assert core.read(os.path.join(job, "job.array")) == "0-2\n"


def test_on_grid_engine_failed_runs_of_a_sweep_and_tasks_of_an_array_are_retried_alone(core, sge):
    """A sweep's run 1 fails once: the round is -t 2-2 with twice the time.  An array
    0-2 whose tasks 0 and 2 fail once: the round spans -t 1-3, and task 1, Done
    already, exits at once without running again."""
    core.newproj("p")
    top = core.project("p", grunter="", run_sh=FLAKY_RUN, files={"grunter.py": example(
        runner="sge", time="0:10:00", retry={"FAILED": {"time": "2x", "max": 2}})})
    jid = core.grunt("sweep", "t=1..3", "-m", "flaky", cwd=top).ok().out.split(":")[0]
    jobs = rounds_until(core, top, lambda js: js[jid]["status"] == "Done"
                        and len(js[jid].get("attempts", [])) == 4, timeout=60)
    assert [(t["status"], t.get("attempt", 1)) for t in jobs[jid]["tasks"]] == [
        ("Done", 1), ("Done", 2), ("Done", 1)]
    job = core.sjob(jid)
    assert "#$ -t 1-3:1" in core.read(os.path.join(job, "job.try1.sge"))
    script = core.read(os.path.join(job, "job.sge"))
    assert "#$ -t 2-2:1" in script and "#$ -l h_rt=1200" in script
    assert core.read(os.path.join(job, "job.1.try1.out")) == "first\n"
    assert core.grunt("out", f"{jid}_1", cwd=top).ok().out == "ok 2\n"

    flaky = ('T=$((SGE_TASK_ID - 1)); echo "$T" >> ../../../ran.txt\n'
             'if [ "$T" != 1 ] && [ ! -e "tried.$T" ]; then touch "tried.$T"; echo first; exit 3; fi\n'
             'echo "ok $T"\n')
    core.write(os.path.join(top, "run.sh"), flaky)
    core.write(os.path.join(top, "grunter.py"), example(
        runner="sge", array="0-2", retry={"FAILED": {"max": 2}}))
    arr = core.submit(cwd=top)
    jobs = rounds_until(core, top, lambda js: js[arr]["status"] == "Done"
                        and len(js[arr].get("attempts", [])) == 6, timeout=60)
    job = core.sjob(arr)
    assert "#$ -t 1-3:1" in core.read(os.path.join(job, "job.sge"))   # the span of 0 and 2
    assert [core.read(os.path.join(job, f"job.{t}.out")) for t in range(3)] == [
        "ok 0\n", "ok 1\n", "ok 2\n"]
    assert sorted(core.read(os.path.join(core.swc("p"), "ran.txt")).split()) == \
        ["0", "0", "1", "2", "2"]          # task 1 ran once
