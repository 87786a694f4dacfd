"""sweep: many runs from one snapshot in one push; runs addressed as <jobid>_<task>;
jobs, out and gresults per run; resubmit --failed/--tasks/--time; bad input.
The loop runs with the local runner (the Slurm array is in test_slurm_sweep.py)."""
import json
import os
import re
import subprocess

import pytest

from fixture_core import fails, wait_for
from fixture_slurm import grunter_py
from lib.client import sweep as SW
from lib.errors import UsageError
from lib.gruntlib import sweep as GS

# a run fails (exit 3) for lr=0.2 seed=2; it logs its start and end for the
# overlap check, and writes results.csv in its working directory
RUN_SH = '''echo "args: $* task=$GRUNT_TASK repeat=$GRUNT_REPEAT"
echo "s $(date +%s.%N)" >> "$TRACE"
echo "$2,$4" > results.csv
sleep 0.4
echo "e $(date +%s.%N)" >> "$TRACE"
[ "$2" = 0.2 ] && [ "$4" = 2 ] && exit 3
exit 0
'''


def commits(core) -> int:
    return int(subprocess.run(["git", "rev-list", "--count", "main"], cwd=core.bare(),
                              capture_output=True, text=True, check=True).stdout)


@pytest.fixture
def sweep_proj(core, tmp_path):
    trace = str(tmp_path / "trace")
    top = core.project("p", grunter="", files={
        "grunter.py": grunter_py(runner="local", time="0:30:00", results=["*.csv"]),
        "run.sh": f"TRACE={trace}\n" + RUN_SH})
    core.newproj("p")
    return top, trace


def most_at_once(trace: str) -> int:
    events = sorted((float(t), 1 if k == "s" else -1)
                    for k, t in (ln.split() for ln in open(trace).read().splitlines()))
    now = best = 0
    for _, d in events:
        now += d
        best = max(best, now)
    return best


def test_a_sweep_is_one_job_whose_runs_have_their_own_state_output_and_results(core, sweep_proj):
    top, trace = sweep_proj
    before = commits(core)
    r = core.grunt("sweep", "lr=0.1,0.2", "seed=1..3", "--parallel", "2", "--", "--epochs", "3",
                   "-m", "lr grid", cwd=top).ok()
    jid = r.out.split(":")[0]
    assert r.out.strip() == f"{jid}: 6 runs ({jid}_0 .. {jid}_5)"
    assert commits(core) == before + 1                     # one commit, one push
    doc = json.loads(core.read(os.path.join(core.cjob(jid), "job.sweep")))
    assert doc["params"] == ["lr", "seed"] and doc["fixed"] == ["--epochs", "3"]
    assert [r["values"] for r in doc["runs"]][:2] == [{"lr": "0.1", "seed": "1"},
                                                      {"lr": "0.1", "seed": "2"}]
    assert doc["runs"][4]["args"] == ["--lr", "0.2", "--seed", "2", "--epochs", "3"]

    def listed():
        core.grund()
        return core.jobs(cwd=top)[jid]
    wait_for(lambda: listed()["status"] == "Failed", timeout=30, what="the sweep to end",
             interval=0.3)
    row = listed()
    assert [(t["id"], t["status"], t["exit_code"]) for t in row["tasks"]] == [
        (f"{jid}_{i}", "Failed" if i == 4 else "Done", 3 if i == 4 else 0) for i in range(6)]
    assert row["tasks"][4]["label"] == "lr=0.2 seed=2" and row["exit_code"] == 3
    assert 2 == most_at_once(trace)                         # --parallel 2, and it was used
    table = core.grunt("jobs", cwd=top).ok().out
    assert "Failed (6 tasks: 5 Done, 1 Failed)" in table and f"{jid}_" not in table
    runs = core.grunt("jobs", jid, cwd=top).ok().out
    assert f"{jid}_4" in runs and "lr=0.2 seed=2" in runs and "Failed (3)" in runs
    assert core.grunt("out", f"{jid}_4", cwd=top).ok().out == \
        "args: --lr 0.2 --seed 2 --epochs 3 task=4 repeat=0\n"
    followed = core.grunt("out", "-f", f"{jid}_4", cwd=top)
    assert (followed.rc, followed.out) == (1, "args: --lr 0.2 --seed 2 --epochs 3 task=4 repeat=0\n"
                                              f"({jid}_4 ended Failed, exit 3)\n")
    assert fails(core, top, "out", f"{jid}_9") == f"{jid} has no run 9 (runs {jid}_0 .. {jid}_5)"
    assert "acts on whole jobs" in fails(core, top, "delete", f"{jid}_1", rc=2)
    shown = core.grunt("show", f"{jid}_4", cwd=top).ok().out
    assert "runs          6 tasks: 5 Done, 1 Failed" in shown
    assert f"run           {jid}_4 lr=0.2 seed=2: Failed (exit 3)" in shown

    core.grunt("update", jid, cwd=top).ok()
    core.grund()
    core.grunt("pull", cwd=top).ok()
    for t, (lr, seed) in enumerate((a, b) for a in ("0.1", "0.2") for b in "123"):
        assert core.read(os.path.join(top, "gresults", jid, "runs", str(t), "results.csv")) == \
            f"{lr},{seed}\n"
    assert not os.path.lexists(os.path.join(top, "gresults", jid, "runs", "0", "run.sh"))

    pushed = commits(core)
    one = core.grunt("resubmit", f"{jid}_1", "-n", "-m", "x", cwd=top).ok().out
    assert '"from":1' in one and one.count('"task":') == 1 and "1 run(s) from" in one
    some = core.grunt("resubmit", jid, "--tasks", "0,2..3", "--mem", "2G", "-n", "-m", "x",
                      cwd=top).ok().out
    assert re.findall(r'"from":(\d+)', some) == ["0", "2", "3"]
    assert "--- job.resources ---\nmemory 2048M\n" in some
    assert fails(core, top, "resubmit", jid, "--tasks", "6", "-m", "x", rc=2) == \
        f"{jid} has no task 6 (tasks: 0, 1, 2, 3, 4, 5)"
    assert fails(core, top, "resubmit", jid, "--timeout", "-m", "x").startswith(
        f"nothing to run again: no task of {jid} is Timeout")
    assert commits(core) == pushed
    again = core.grunt("resubmit", jid, "--failed", "--time", "2x", "-m", "again",
                       cwd=top).ok().out.strip()
    redo = json.loads(core.read(os.path.join(core.cjob(again), "job.sweep")))
    assert [(r["values"], r["from"]) for r in redo["runs"]] == [({"lr": "0.2", "seed": "2"}, 4)]
    assert core.read(os.path.join(core.cjob(again), "job.resources")) == "time 01:00:00\n"
    assert core.read(os.path.join(core.cjob(again), "job.parent")) == jid + "\n"
    wait_for(lambda: (core.grund(), core.jobs(cwd=top)[again]["status"])[1] == "Failed",
             timeout=30, what="the rerun to end", interval=0.3)
    assert len(core.jobs(cwd=top)[again]["tasks"]) == 1
    tree = core.grunt("jobs", "--tree", cwd=top).ok().out
    assert f"└ {again}" in tree


def test_cancel_of_single_runs_running_and_not_started(core):
    top = core.project("p", grunter="", files={"grunter.py": grunter_py(runner="local")},
                       run_sh='[ "$2" = 1 ] && sleep 60\necho "done $2"\n')
    core.newproj("p")
    jid = core.grunt("sweep", "t=1..3", "-m", "c", cwd=top).ok().out.split(":")[0]
    core.grund()
    wait_for(lambda: os.path.exists(os.path.join(core.sjob(jid), "job.0.start")),
             what="run 0 to start")
    r = core.grunt("cancel", f"{jid}_0", f"{jid}_2", cwd=top).ok()
    assert r.out == f"asked grund on blanca to cancel {jid}_0 {jid}_2\n"

    def states():
        core.grund()
        return [(t["status"], t["exit_code"]) for t in core.jobs(cwd=top)[jid]["tasks"]]
    wait_for(lambda: states() == [("Canceled", 143), ("Done", 0), ("Canceled", None)],
             timeout=30, what="runs 0 and 2 canceled, run 1 done", interval=0.3)
    assert core.jobs(cwd=top)[jid]["status"] == "Canceled"
    assert core.grunt("out", f"{jid}_1", cwd=top).ok().out == "done 2\n"
    assert not os.path.exists(os.path.join(core.sjob(jid), "job.2.out"))


BAD = [
    (["lr="], "no values for lr"),
    (["lr=3..1"], "range 3..1 of lr is descending"),
    (["lr=1..4:0"], "the step must be positive"),
    (["lr=1", "lr=2"], "parameter lr is named twice"),
    (["a=1,2", "b=1", "--zip", "a,b"], "the lists have different lengths"),
    (["a=1,,2"], "an empty value"),
    (["epochs"], "not a parameter: 'epochs'"),
    (["a=1", "--grid"], "unknown option --grid"),
    (["a=x\ny"], "newline"),
    (["--table", "ragged.tsv"], "line 3 has 1 fields, the header 2"),
    (["--table", "blank.tsv"], "line 2 is empty"),
    (["--table", "empty.tsv"], "is empty"),
    (["a=1", "--style", "-a value"], "unknown style"),
    (["a=1..1001"], "has 1001 runs (more than 1000): add --yes"),
]


def test_bad_sweeps_say_one_line_and_push_nothing(core, sweep_proj):
    top, _ = sweep_proj
    core.write(os.path.join(top, "ragged.tsv"), "a\tb\n1\t2\n3\n")
    core.write(os.path.join(top, "blank.tsv"), "a\tb\n\n")
    core.write(os.path.join(top, "empty.tsv"), "")
    before = commits(core)
    for words, says in BAD:
        r = core.grunt("sweep", *words, "-m", "x", cwd=top)
        assert r.rc == 2 and r.err.count("\n") == 1 and says in r.err, (words, r)
        assert "Traceback" not in r.err
    assert commits(core) == before


def test_a_grunter_without_gruntlib_cannot_run_a_sweep(core, core_proj):
    before = commits(core)
    assert "grunter.py does not use gruntlib's runner" in fails(core, core_proj, "sweep", "a=1,2",
                                                                "-m", "x")
    assert commits(core) == before


def test_dry_run_shows_every_run_and_what_it_asks_for(core, sweep_proj):
    top, _ = sweep_proj
    before = commits(core)
    out = core.grunt("sweep", "lr=0.1,0.2", 'name=a b,"c,d"', "--eq", "-n", "-m", "x", cwd=top).ok().out
    lines = out.splitlines()
    assert len(lines) == 5 and lines[1].split("->")[1].strip() == "--lr=0.1 --name=c,d"
    assert lines[-1].startswith("4 runs, each asking time 0:30:00: 4 x 0:30:00 = 02:00:00 in all")
    assert commits(core) == before


def test_values_zip_table_repeat_and_styles(tmp_path):
    assert SW.values("s", "1..7:3,x") == ["1", "4", "7", "x"]
    assert SW.values("s", '"a,b",c d') == ["a,b", "c d"]
    names, runs = SW.expand([("a", "1,2"), ("b", "x,y"), ("c", "5,6")], ["a,c"], None, 2)
    assert names == ["a", "b", "c"] and len(runs) == 8
    assert runs[:3] == [({"a": "1", "b": "x", "c": "5"}, 0), ({"a": "1", "b": "x", "c": "5"}, 1),
                        ({"a": "1", "b": "y", "c": "5"}, 0)]
    table = tmp_path / "t.csv"
    table.write_text('opt,n\n"x, y",1\nz,2\n')
    names, runs = SW.expand([("lr", "1,2")], [], str(table), 1)
    assert runs[1] == ({"lr": "1", "opt": "z", "n": "2"}, 0)
    assert GS.value_args("name=value", "lr", "1") == ["lr=1"]
    assert GS.value_args("--name=value", "lr", "1") == ["--lr=1"]
    assert GS.value_args("--name value", "lr", "1") == ["--lr", "1"]
    with pytest.raises(UsageError):
        SW.expand([("a", "1")], ["a,b"], None, 1)


def test_time_and_memory_scaling_and_chunks():
    assert SW.scale_time("1:00:00", "2x") == "02:00:00"
    assert SW.scale_time("30", "2x") == "01:00:00"
    assert SW.scale_time("1-12:00:00", "2x") == "3-00:00:00"
    assert SW.scale_time(None, "4:00:00") == "04:00:00"
    assert SW.scale_mem("4G", "2x") == "8192M" and SW.scale_mem(None, "16G") == "16384M"
    with pytest.raises(UsageError):
        SW.scale_time(None, "2x")
    assert GS.chunks(10, 4) == [(0, 4), (4, 4), (8, 2)]
    assert GS.chunks(1000, 1001) == [(0, 1000)]


def test_resubmit_failed_tasks_of_an_array_job_and_a_plain_job(core):
    top = core.project("p", grunter="", files={"grunter.py": grunter_py(runner="local", array="0-2")},
                       run_sh='echo "task $SLURM_ARRAY_TASK_ID"\n[ "$SLURM_ARRAY_TASK_ID" != 1 ] || exit 4\n')
    core.newproj("p")
    arr = core.submit(cwd=top)

    def state(jid):
        core.grund()
        j = core.jobs(cwd=top)[jid]
        return j["status"]
    wait_for(lambda: state(arr) == "Failed", timeout=30, what="the array to end", interval=0.3)
    again = core.grunt("resubmit", arr, "--failed", "-m", "task 1 again", cwd=top).ok().out.strip()
    assert core.read(os.path.join(core.cjob(again), "job.resources")) == "array 1\n"
    wait_for(lambda: state(again) == "Failed", timeout=30, what="the rerun to end", interval=0.3)
    assert core.grunt("out", again, cwd=top).ok().out == "--- task 1 ---\ntask 1\n"
    assert "nothing to run again" in fails(core, top, "resubmit", again, "--timeout", "-m", "x")


def test_resubmit_failed_of_a_plain_job(core):
    top = core.project("p", run_sh='exit "$1"\n')
    core.newproj("p")
    ok, bad = core.submit("0", cwd=top), core.submit("5", cwd=top)
    core.grund()
    assert "nothing to run again" in fails(core, top, "resubmit", ok, "--failed", "-m", "x")
    again = core.grunt("resubmit", bad, "--failed", "--time", "0:45:00", "-m", "x",
                       cwd=top).ok().out.strip()
    job = core.cjob(again)
    assert core.read(os.path.join(job, "job.resources")) == "time 00:45:00\n"
    assert core.read(os.path.join(job, "job.args")) == "5\n"
    assert not os.path.exists(os.path.join(job, "job.sweep"))
