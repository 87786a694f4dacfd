"""Reading result files and drawing charts (lib/client/resultfiles.py, chart.py):
the formats, the odd files, the bounded memory of a long series."""
from __future__ import annotations

import os

import pytest

from lib.client import chart, resultfiles as R


def _table(tmp_path, name: str, text: str) -> R.Table:
    p = tmp_path / name
    p.write_text(text)
    return R.Table(str(p), name)


def test_an_etable_log(tmp_path):
    t = _table(tmp_path, "trn.tsv",
               "_H:\t$Name\t%Epoch\t#Loss\t|Trials\t#Out[2:0,0]<2:2,2>\n"
               "_D:\tA\t1\t0.5\t4\t0.1\n"
               "_D:\tB\t2\t0.25\t8\t0.2\n")
    assert t.columns == ["Epoch", "Loss", "Trials", "Out[2:0,0]"]   # the $ column is text
    assert [r["Loss"] for r in t.rows()] == ["0.5", "0.25"]
    assert t.last_row() == {"Epoch": "2", "Loss": "0.25", "Trials": "8", "Out[2:0,0]": "0.2"}


def test_csv_with_quotes_ragged_rows_and_no_header(tmp_path):
    t = _table(tmp_path, "m.csv", 'step,loss,"note, long"\n1,0.5,"a, b"\n2,0.4,c,extra\n')
    assert t.columns == ["step", "loss", "note, long"]
    assert list(t.rows())[0] == {"step": "1", "loss": "0.5", "note, long": "a, b"}
    assert t.ragged == 1
    t = _table(tmp_path, "excel.csv", "\ufeffstep,loss\r\n1,0.5\r\n")
    assert t.columns == ["step", "loss"] and t.last_row() == {"step": "1", "loss": "0.5"}
    t = _table(tmp_path, "raw.tsv", "1\t2\n3\t4\n")
    assert t.columns == ["c1", "c2"] and t.last_row() == {"c1": "3", "c2": "4"}
    assert [r["c1"] for r in t.rows()] == ["1", "3"]
    assert _table(tmp_path, "empty.csv", "").columns == []
    assert _table(tmp_path, "only.csv", "a,b\n").last_row() == {}


def test_the_last_row_of_a_long_file_is_read_from_its_end(tmp_path):
    p = tmp_path / "big.csv"
    with open(p, "w") as f:
        f.write("i,v\n")
        for i in range(100000):
            f.write(f"{i},{i * 2}\n")
        f.write("\n\n")
    assert os.path.getsize(p) > 10 * R.TAIL_BYTES
    assert R.Table(str(p), "big.csv").last_row() == {"i": "99999", "v": "199998"}


def test_key_values_of_job_out(tmp_path):
    t = _table(tmp_path, "job.out", "args: --lr 0.1\nstarting\nepoch=1 loss=0.5 tag=x1\n"
               "epoch=2 loss=0.25\nbest_acc: 0.9\nfinal loss: 3\nurl=http://x\n")
    assert t.columns == ["epoch", "loss", "best_acc"]
    assert [r.get("loss") for r in t.rows()] == ["0.5", "0.25"]
    assert t.last_row() == {"epoch": "2", "loss": "0.25", "best_acc": "0.9"}


def test_non_numeric_cells_are_skipped_and_counted(tmp_path):
    t = _table(tmp_path, "m.csv", "a,b\n1,3\nx,\n2,4,9\nnan\n\ny,5\n")
    s = t.figures()["a"]
    assert t.bad == {"a": R.Bad(2, "x")} and t.ragged == 1
    assert (t.figures()["b"].get("mean"), t.figures()["b"].n) == (4.0, 3)
    assert (s.get("min"), s.get("max"), s.get("mean"), s.n) == (1.0, 2.0, 1.5, 3)
    assert s.get("last") != s.get("last")   # NaN: the last value is what it is


def test_a_long_series_keeps_a_bounded_number_of_points():
    s = R.Series(cap=100)
    for i in range(1_000_000):
        s.add(float(i), float(i % 7))
    pts = s.points()
    assert 50 <= len(pts) <= 101
    assert pts[0] == (0.0, 0.0) and pts[-1] == (999999.0, 999999 % 7)
    xs = [x for x, _ in pts[:-1]]
    assert len({b - a for a, b in zip(xs, xs[1:])}) == 1   # evenly thinned


@pytest.mark.parametrize("lo,hi,ticks", [(0.013, 0.92, [0, 0.5, 1]), (1, 20, [0, 5, 10, 15, 20]),
                                         (-3, 3, [-4, -2, 0, 2, 4])])
def test_nice_ranges(lo, hi, ticks):
    a, b, t = chart.nice_range(lo, hi, 5 if hi == 20 else 4)
    assert t == ticks and (a, b) == (ticks[0], ticks[-1])


def test_a_chart_in_braille_with_colour_and_in_plain_markers():
    lines = [chart.Line("up", [(0, 0), (10, 10)]), chart.Line("down", [(0, 10), (10, 0)])]
    text = chart.render(lines, 40, 8, "step", "loss", colour=True, unicode=True)
    assert "\033[34m" in text and "\033[31m" in text
    assert any(0x2800 < ord(ch) <= 0x28FF for ch in text)
    plain = chart.render(lines, 40, 8, "step", "loss", colour=False, unicode=False)
    assert "\033" not in plain and all(ord(ch) < 128 for ch in plain)
    rows = plain.splitlines()
    assert max(map(len, rows)) <= 40
    grid = rows[1:9]
    assert grid[0].rstrip().endswith("*") and grid[-1].rstrip().endswith("+")   # crossing lines
    assert rows[-2:] == ["  * up", "  + down"]
    band = chart.render([chart.Line("g", [(0, 1), (1, 1)], [(0, 0, 2), (1, 0, 2)])], 30, 8, "x", "y")
    assert "·" in band


def _run(tmp_path, rid: str, files: "dict[str, str]"):
    from lib import jobs as J
    from lib.client.runs import Run
    d = tmp_path / rid
    d.mkdir()
    for rel, text in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    job = J.Job(id=rid, proj="p", folder="active", path=str(d), status="Done")
    return Run(rid, job, None, {}, [], str(d), str(d / "job.out"), "Done")


def test_runs_whose_files_disagree_on_columns(tmp_path):
    from lib.client import compare as C
    from lib.errors import GruntError, UsageError
    a = _run(tmp_path, "aaa000001", {"m.csv": "step,loss\n1,0.5\n2,0.4\n"})
    b = _run(tmp_path, "aaa000002", {"m.csv": "step,acc,loss\n1,0.9,0.3\n",
                                     "other/e.csv": "loss\n7\n", "notes.txt": "x\n"})
    c = _run(tmp_path, "aaa000003", {})
    cat = C.Catalog([a, b, c])
    assert cat.names() == ["step", "m.csv:loss", "acc", "other/e.csv:loss"]
    cmp = C.compare(cat, [], [], "last")
    assert [col.name for col in cmp.cols] == cat.names() and cmp.without == [c]
    assert cmp.values[a.id] == {C.Col("step"): 2.0, C.Col("m.csv:loss"): 0.4}
    assert cmp.values[b.id][C.Col("other/e.csv:loss")] == 7.0
    assert cat.resolve("loss") == ["m.csv:loss", "other/e.csv:loss"]
    with pytest.raises(UsageError, match="column 'loss' is in several files: name one of "
                                         "m.csv:loss, other/e.csv:loss"):
        C.chart_lines(cat, "loss", None, None, [])
    lines, xname, notes = C.chart_lines(cat, "acc", None, None, [])
    assert [ln.label for ln in lines] == [b.id] and xname == "step"
    assert notes == [f"{a.id} has no column acc"]
    with pytest.raises(GruntError, match="no results for these runs"):
        C.Catalog([c])


@pytest.mark.parametrize("text,error", [
    ("{", "job.sweep is not valid JSON"),
    ('{"version": 1, "runs": [{"values": {}}]}', "job.sweep has no list of runs with task numbers"),
    ('{"version": 2, "runs": []}', "job.sweep is version 2, this grunt reads version 1"),
])
def test_a_broken_sweep_file_is_one_sentence(tmp_path, text, error):
    from lib.client.runs import read_sweep
    from lib.errors import GruntError
    run = _run(tmp_path, "aaa000001", {"job.sweep": text})
    with pytest.raises(GruntError, match=f"^aaa000001: {error}"):
        read_sweep(run.job)


def test_a_sweep_task_has_its_own_state_when_the_job_records_one(tmp_path):
    from lib import jobs as J
    from lib.client.runs import task_state
    run = _run(tmp_path, "aaa000001", {})
    run.job.status, run.job.start = J.RUNNING, "2026-01-01 00:00:00 UTC"
    assert task_state(run.job, 1) == (J.RUNNING, "2026-01-01 00:00:00 UTC", "")
    run.job.tasks = [J.Task(1, J.FAILED, 2, "2026-01-01 00:00:01 UTC", "2026-01-01 00:01:01 UTC")]
    assert task_state(run.job, 1) == (J.FAILED, "2026-01-01 00:00:01 UTC", "2026-01-01 00:01:01 UTC")
    run.state, run.start, run.end = task_state(run.job, 1)
    assert run.duration == 60.0
