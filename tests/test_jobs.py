"""lib/jobs.py: job records read from their directories, arrays, job id expressions."""
import os

import pytest

from lib import jobs as J
from lib.errors import UsageError
from lib.gruntlib import protocol


T0, T1 = "2026-01-02 03:04:05 UTC", "2026-01-02 04:05:06 UTC"


def write_job(path, files):
    os.makedirs(path, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(text)
    return path


def test_load_reads_the_job_files(tmp_path):
    path = write_job(tmp_path / "active" / "ali000007" / "p", {
        "job.message": "try it\nsecond line\n", "job.submit": T0 + "\n",
        "job.args": "--lr\n0.1\n\n", "job.server": "blanca\n", "job.start": T0 + "\n",
        "job.end": T1 + "\n", "job.exitcode": "2\n", "job.slurmid": "4711\n",
        "run.sh": "echo\n"})
    j = J.load(str(tmp_path), protocol.JobPath("active", "ali000007", "p"))
    assert j.as_json() == {
        "id": "ali000007", "server": "blanca", "folder": "active", "status": "Failed",
        "sched_id": "4711", "submit": T0, "start": T0, "end": T1,
        "args": ["--lr", "0.1", ""], "message": "try it\nsecond line", "exit_code": 2}
    assert j.number == 7


def test_load_pid_is_the_sched_id_and_no_args(tmp_path):
    path = write_job(tmp_path / "active" / "ali000001" / "p", {"job.pid": "123\n", "job.args": ""})
    j = J.load(str(tmp_path), protocol.JobPath("active", "ali000001", "p"))
    assert (j.sched_id, j.args, j.status, j.exit_code) == ("123", [], J.PENDING, None)


def test_load_error_is_failed(tmp_path):
    path = write_job(tmp_path / "active" / "ali000001" / "p", {"job.error": "grunter.py submit failed (exit 3)\n"})
    j = J.load(str(tmp_path), protocol.JobPath("active", "ali000001", "p"))
    assert (j.status, j.detail) == (J.FAILED, "grunter.py submit failed (exit 3)")


def test_array_job_tasks(tmp_path):
    path = write_job(tmp_path / "active" / "ali000001" / "p", {
        "job.array": "0-3\n", "job.slurmid": "99\n",
        "job.0.start": T0, "job.0.end": T1, "job.0.exitcode": "0",
        "job.1.start": T0, "job.1.end": T1, "job.1.exitcode": "4",
        "job.2.start": T0, "job.2.status": "TIMEOUT",
        "job.0.out": "task zero\n"})
    j = J.load(str(tmp_path), protocol.JobPath("active", "ali000001", "p"))
    assert [(t.index, t.status, t.exit_code) for t in j.tasks] == [
        (0, J.DONE, 0), (1, J.FAILED, 4), (2, J.TIMEOUT, None), (3, J.PENDING, None)]
    assert (j.status, j.start, j.end) == (J.RUNNING, T0, "")
    write_job(path, {"job.3.start": T0, "job.3.end": T1, "job.3.exitcode": "0"})
    j = J.load(str(tmp_path), protocol.JobPath("active", "ali000001", "p"))
    assert (j.status, j.exit_code, j.end) == (J.FAILED, 4, T1)


def test_array_job_all_done_and_pending(tmp_path):
    path = write_job(tmp_path / "active" / "ali000001" / "p", {"job.array": "1,3\n"})
    j = J.load(str(tmp_path), protocol.JobPath("active", "ali000001", "p"))
    assert [t.index for t in j.tasks] == [1, 3] and j.status == J.PENDING
    write_job(path, {f"job.{i}.{k}": v for i in (1, 3)
                     for k, v in (("start", T0), ("end", T1), ("exitcode", "0"))})
    j = J.load(str(tmp_path), protocol.JobPath("active", "ali000001", "p"))
    assert (j.status, j.exit_code) == (J.DONE, 0)
    write_job(path, {"job.canceled": T1})
    j = J.load(str(tmp_path), protocol.JobPath("active", "ali000001", "p"))
    assert all(t.status == J.CANCELED for t in j.tasks) and j.status == J.CANCELED


@pytest.mark.parametrize("words, ids", [
    (["12"], ["ali000012"]),
    (["abc000012"], ["abc000012"]),
    (["abc000011..13"], ["abc000011", "abc000012", "abc000013"]),
    (["11..ali000012"], ["ali000011", "ali000012"]),
    (["abc000009..abc000010"], ["abc000009", "abc000010"]),
    (["1,3", "2", "3"], ["ali000001", "ali000003", "ali000002"]),
    (["7..7"], ["ali000007"]),
])
def test_parse_ids(words, ids):
    assert J.parse_ids(words, "ali") == ids


@pytest.mark.parametrize("word, msg", [
    ("x12", "not a job id: 'x12'"), ("1234567", "not a job id"), ("5..3", "ends before it starts"),
    ("abc000001..xyz000002", "spans two prefixes"), ("1..999999", "too large"),
    ("1..", "not a job id: '1..'")])
def test_parse_ids_errors(word, msg):
    with pytest.raises(UsageError) as e:
        J.parse_ids([word], "ali")
    assert msg in str(e.value)


def test_an_ended_attempt_is_not_finished_until_grund_has_decided_on_a_retry(tmp_path):
    where = protocol.JobPath("active", "ali000008", "p")
    path = write_job(str(tmp_path / where.rel), {
        "job.start": T0 + "\n", "job.end": T1 + "\n", "job.exitcode": "143\n",
        "job.status": "TIMEOUT\n", "job.retry": '{"policy": {}, "resources": {}}\n'})
    j = J.load(str(tmp_path), where)
    assert (j.status, j.deciding, j.finished) == (J.TIMEOUT, True, False)
    write_job(path, {"job.attempts": '{"attempt": 1, "state": "TIMEOUT", "next": null}\n'})
    j = J.load(str(tmp_path), where)
    assert (j.deciding, j.finished, j.attempt_label) == (False, True, "")
    write_job(path, {"job.attempt": '{"attempt": 2, "max": 3}\n', "job.try1.end": T1})
    for name in ("job.end", "job.exitcode", "job.status", "job.start"):
        os.unlink(os.path.join(path, name))
    j = J.load(str(tmp_path), where)
    assert (j.status, j.finished, j.attempt_label) == (J.PENDING, False, " (attempt 2 of 3)")
