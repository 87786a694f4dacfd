"""lib/gruntlib/protocol.py: job paths, atomic writes, timestamps, array specs."""
from __future__ import annotations

import os

import pytest

from lib.gruntlib import protocol, protocol as P, runner


def test_write_atomic_and_timestamps(tmp_path):
    tmp_path = tmp_path / "d"
    tmp_path.mkdir()
    path = str(tmp_path / "f")
    P.write_atomic(path, "one\n")
    P.write_atomic(path, b"two\n", mode=0o600)
    assert P.read_text(path) == "two\n" and os.stat(path).st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["f"]
    assert P.read_text(str(tmp_path / "missing")) is None
    ts = P.now_ts()
    assert P.parse_ts(ts).strftime(P.TS_FORMAT) == ts
    assert P.parse_ts("2026-01-02 03:04:05") is None


@pytest.mark.parametrize("spec, tasks", [("0-3", [0, 1, 2, 3]), ("1,5,7", [1, 5, 7]),
                                         ("0-15:4", [0, 4, 8, 12]), ("0-2,7%2", [0, 1, 2, 7])])
def test_array_tasks(spec, tasks):
    assert protocol.array_tasks(spec) == tasks
    assert runner.check_settings({"array": spec})["array"] == spec


def test_paths_of_the_wakeup(tmp_path):
    jobdir = "/h/grunt/srv/blanca/proj/jobs/active/abc000001/proj"
    assert protocol.JobPath.top_of(jobdir) == "/h/grunt/srv/blanca/proj/jobs"
    assert protocol.JobPath.of_dir(jobdir) == ("active", "abc000001", "proj")
    assert protocol.changed_marker(jobdir) == "/h/grunt/srv/blanca/proj/jobs/.git/grunt-changed"
    assert protocol.fifo_path(jobdir) == "/h/grunt/srv/blanca/grund.fifo"
    assert protocol.mark_path(jobdir) == "/h/grunt/srv/blanca/.grund-marks/proj"


@pytest.mark.parametrize("spec, tasks", [
    ("0-3", [0, 1, 2, 3]), ("1,3,5-7", [1, 3, 5, 6, 7]), ("0-15:4%2", [0, 4, 8, 12]), ("5", [5])])
def test_expand_array(spec, tasks):
    assert protocol.array_tasks(spec) == tasks
