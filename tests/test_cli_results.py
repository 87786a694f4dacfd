"""compare, plot, report: on result files made by real runs through grunt and grund
(the local runner), read from the laptop's copies after grunt pull."""
from __future__ import annotations

import json
import os
import re

import pytest

from fixture_core import rows, wait_for
from fixture_slurm import grunter_py

# a training script: metrics.csv (epoch, loss, acc, a text column), an etable log,
# and key-value lines in its output; --bad puts a non-numeric cell in loss
TRAIN = r'''
import math, sys
a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
lr, seed = float(a.get("--lr", "0.1")), int(a.get("--seed", "0"))
with open("metrics.csv", "w") as f:
    f.write("epoch,loss,acc,phase\n")
    for e in range(1, 21):
        loss = math.exp(-lr * e) + seed / 100
        cell = "diverged" if a.get("--bad") and e == 5 else f"{loss:.6f}"
        f.write(f"{e},{cell},{1 - loss / 2:.6f},train\n")
with open("log.tsv", "w") as f:
    f.write("_H:\t$Name\t%Epoch\t#SSE\t|Trials\n")
    for e in range(1, 6):
        f.write(f"_D:\trun{seed}\t{e}\t{10 * lr / e:.4f}\t{e * 4}\n")
print(f"final_loss: {loss:.6f}")
print(f"epoch=20 speed={100 * lr:.1f} note=ok")
'''
SWEEP_SH = r'''
# a sweep as one job: job.sweep and one results directory per task
python3 - <<'EOF'
import json, os, subprocess
runs = []
for t, (lr, seed) in enumerate([("0.1", "1"), ("0.1", "2"), ("0.5", "1"), ("0.5", "2")]):
    args = ["--lr", lr, "--seed", seed]
    runs.append({"task": t, "values": {"lr": lr, "seed": seed}, "repeat": 0, "args": args})
    d = f"runs/{t}"
    os.makedirs(d)
    with open(f"{d}/job.out", "w") as out:
        subprocess.check_call(["python3", os.path.abspath("train.py"), *args], cwd=d, stdout=out)
json.dump({"version": 1, "params": ["lr", "seed"], "style": "--name value", "fixed": [],
           "runs": runs}, open("job.sweep", "w"))
EOF
'''


def bad_cell_note(jid: str) -> str:
    return (f"grunt: note: {jid} metrics.csv: 1 non-numeric cell(s) in column loss "
            "skipped (e.g. 'diverged')\n")


def _finish(core, top: str, jids: "list[str]") -> None:
    """grund until every job has ended and its results are copied; then pull."""
    core.grund()
    for jid in jids:
        wait_for(lambda: os.path.exists(os.path.join(core.sjob(jid), "job.end")), timeout=30,
                 what=f"{jid} to end")
    core.grunt("update", cwd=top).ok()
    core.grund()
    core.grunt("pull", cwd=top).ok()


@pytest.fixture
def trained(core):
    """Four plain runs (lr x seed, one with a bad cell) and a pending one without results."""
    top = core.project("p", grunter="", run_sh='python3 train.py "$@"\n',
                       files={"train.py": TRAIN, "grunter.py": grunter_py(
                           runner="local", results=["*.csv", "*.tsv"])})
    core.newproj("p")
    jids = [core.submit("--lr", lr, "--seed", seed, *extra, m=f"lr {lr} seed {seed}", cwd=top)
            for lr, seed, extra in (("0.1", "1", ()), ("0.1", "2", ()), ("0.5", "1", ()),
                                    ("0.5", "2", ("--bad", "1")))]
    _finish(core, top, jids)
    return top, jids


def test_compare_plain_jobs(core, trained):
    top, (a, b, c, d) = trained
    r = core.grunt("compare", cwd=top).ok()
    t = rows(r.out)
    # files in name order; a column in two files is named with its file
    assert t[0] == ["RUN", "lr", "seed", "bad", "STATE", "TIME", "Epoch", "SSE", "Trials",
                    "metrics.csv:epoch", "loss", "acc", "final_loss", "job.out:epoch", "speed"]
    assert t[1][:5] == [a, "0.1", "1", "-", "Done"]
    assert t[4][:5] == [d, "0.5", "2", "1", "Done"]
    got = {row[0]: dict(zip(t[0], row)) for row in t[1:]}
    assert float(got[a]["loss"]) == pytest.approx(0.145335, abs=1e-4)   # exp(-2) + 0.01
    assert got[c]["SSE"] == "1" and got[a]["Trials"] == "20"            # the etable's last row
    assert got[a]["final_loss"] == got[a]["loss"]
    assert "Name" not in t[0] and "phase" not in t[0]                   # text columns left out
    # at a narrow terminal: figures that do not fit are left out whole, and named
    core.mp.setenv("COLUMNS", "70")
    r = core.grunt("compare", cwd=top).ok()
    core.mp.delenv("COLUMNS")
    assert max(map(len, r.out.splitlines())) <= 70 and rows(r.out)[0][-1] == "Trials"
    assert r.err == ("grunt: note: 6 column(s) left out to fit the terminal: metrics.csv:epoch, "
                     "loss, acc, final_loss, job.out:epoch, speed (--col picks columns; a pipe "
                     "gets them all)\n")
    # min over the whole file: the bad cell is skipped with a note
    r = core.grunt("compare", "--col", "loss:min,acc:max", "--sort", "loss:min", cwd=top).ok()
    t = rows(r.out)
    assert t[0][-2:] == ["loss:min", "acc:max"] and [x[0] for x in t[1:]] == [c, d, a, b]
    assert r.err == bad_cell_note(d)
    r = core.grunt("compare", f"{a}..4", "--col", "acc", "--stat", "mean", "--sort", "acc:mean",
                   "--desc", "--top", "2", "--json", cwd=top).ok()
    js = json.loads(r.out)
    assert [j["run"] for j in js] == [c, d]
    assert js[0]["params"] == {"lr": "0.5", "seed": "1"} and js[0]["state"] == "Done"
    assert (js[0]["job"], js[0]["task"], js[0]["message"]) == (c, None, "lr 0.5 seed 1")
    assert js[0]["args"] == ["--lr", "0.5", "--seed", "1"] and js[0]["duration"] >= 0
    assert set(js[0]["metrics"]) == {"acc:mean"} and js[0]["results"] is True
    r = core.grunt("compare", "1", "3", "--col", "SSE", "--csv", cwd=top).ok()
    assert r.out.splitlines()[0] == "run,lr,state,duration_s,SSE"
    assert r.out.splitlines()[1].startswith(f"{a},0.1,Done,") and r.out.endswith(",1\n")


def test_plot_and_report_of_plain_jobs(core, trained, tmp_path):
    top, (a, b, c, d) = trained
    r = core.grunt("plot", "--y", "loss", cwd=top).ok()
    lines = r.out.splitlines()
    assert lines[0].strip() == "loss" and lines[-5].strip() == "epoch"
    assert lines[-6].split() == ["5", "10", "15", "20"]                 # x ticks
    assert [ln.split()[0] for ln in lines[1:-7] if "┤" in ln] == ["1", "0.5", "0"]
    assert [ln.split(None, 1) for ln in lines[-4:]] == [
        ["*", f"{a}  lr=0.1  seed=1"], ["+", f"{b}  lr=0.1  seed=2"],
        ["x", f"{c}  lr=0.5  seed=1"], ["o", f"{d}  lr=0.5  seed=2  bad=1"]]
    plot = "\n".join(lines[1:-4])
    assert all(m in plot for m in "*+xo") and "\033" not in r.out
    assert r.err == bad_cell_note(d)
    assert max(map(len, lines)) <= 80
    r = core.grunt("plot", "--y", "loss", "--by", "lr", "--x", "epoch", cwd=top).ok()
    assert [ln.strip() for ln in r.out.splitlines()[-2:]] == [
        "* lr=0.1  (mean of 2 run(s), band: min..max)", "+ lr=0.5  (mean of 2 run(s), band: min..max)"]
    out = str(tmp_path / "r.html")
    r = core.grunt("report", "-o", out, "--y", "loss", "--y", "SSE", cwd=top).ok()
    assert r.out == f"wrote {out}: 4 run(s), 2 chart(s)\n"
    html = open(out, encoding="utf-8").read()
    assert html.count('<svg class="plot"') == 2 and html.count('class="series"') == 8
    assert "lr 0.5 seed 2" in html and "<script" not in html
    assert not re.search(r'(src|href)\s*=|url\(|@import', html)


def test_bad_input(core, trained):
    top, (a, b, c, d) = trained

    def fails(*argv: str) -> str:
        r = core.grunt(*argv, cwd=top)
        assert r.rc != 0 and r.out == "" and r.err.count("\n") == 1 and "Traceback" not in r.err
        return r.err
    assert fails("compare", "--col", "nope") == (
        "grunt: error: no column 'nope' in the results of these runs; there are: Epoch, SSE, "
        "Trials, metrics.csv:epoch, loss, acc, phase, final_loss, job.out:epoch, speed\n")
    assert "no column 'nope'" in fails("plot", "--y", "nope")
    assert fails("plot", "--y", "loss", "--by", "momentum").startswith(
        "grunt: error: no parameter 'momentum' in these runs; there are: bad, lr, seed")
    assert fails("compare", "--sort", "zzz").startswith("grunt: error: cannot sort by 'zzz'")
    assert fails("compare", "99") == ("grunt: error: no such job in the laptop's copy of p: "
                                      "ali000099 (grunt pull fetches new jobs)\n")
    # a job without results, and none at all
    e = core.submit("--lr", "1", m="late", cwd=top)
    r = core.grunt("compare", e, a, "--col", "loss", cwd=top).ok()
    assert rows(r.out)[1][:2] == [e, "1"] and rows(r.out)[1][-2:] == ["Pending (no results)", "-"]
    assert f"no results in the laptop's copy for 1 run(s): {e}" in r.err
    assert fails("compare", e) == ("grunt: error: no results for these runs in the laptop's "
                                   "copy: grunt update asks grund to copy them, then grunt pull "
                                   "fetches them\n")


def test_a_sweep(core):
    top = core.project("p", grunter="", run_sh=SWEEP_SH, files={
        "train.py": TRAIN, "grunter.py": grunter_py(runner="local", results=["runs"])})
    core.newproj("p")
    jid = core.submit(m="a sweep", cwd=top)
    _finish(core, top, [jid])
    t = rows(core.grunt("compare", jid, "--col", "loss", cwd=top).ok().out)
    assert t[0] == ["RUN", "lr", "seed", "STATE", "TIME", "loss"]
    assert [r[:4] for r in t[1:]] == [[f"{jid}_0", "0.1", "1", "Done"], [f"{jid}_1", "0.1", "2", "Done"],
                                      [f"{jid}_2", "0.5", "1", "Done"], [f"{jid}_3", "0.5", "2", "Done"]]
    t = rows(core.grunt("compare", f"{jid}_2", f"{jid}_0", "--col", "final_loss", cwd=top).ok().out)
    assert [r[0] for r in t[1:]] == [f"{jid}_0", f"{jid}_2"] and t[0][1:3] == ["lr", "STATE"]
    r = core.grunt("plot", jid, "--y", "loss", "--by", "lr", cwd=top).ok()
    assert "lr=0.5  (mean of 2 run(s)" in r.out
    r = core.grunt("compare", f"{jid}_7", cwd=top)
    assert (r.rc, r.err) == (1, f"grunt: error: sweep {jid} has no task 7\n")
