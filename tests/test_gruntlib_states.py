"""lib/gruntlib/states.py: the state a job's files say."""
import pytest

from lib.gruntlib import states as S


T0, T1 = "2026-01-02 03:04:05 UTC", "2026-01-02 04:05:06 UTC"


@pytest.mark.parametrize("files, state, code", [
    ({}, S.PENDING, None),
    ({"status": "PENDING (Priority)"}, S.PENDING, None),
    ({"start": T0}, S.RUNNING, None),
    ({"status": "RUNNING"}, S.RUNNING, None),
    ({"start": T0, "end": T1, "exitcode": "0\n"}, S.DONE, 0),
    ({"start": T0, "end": T1, "exitcode": "3\n"}, S.FAILED, 3),
    ({"start": T0, "end": T1}, S.DONE, None),
    ({"start": T0, "end": T1, "status": "FAILED"}, S.FAILED, None),
    ({"status": "COMPLETED"}, S.DONE, None),
    ({"status": "FAILED"}, S.FAILED, None),
    ({"start": T0, "canceled": T1}, S.CANCELED, None),
    ({"start": T0, "status": "CANCELLED by 1000"}, S.CANCELED, None),
    ({"start": T0, "status": "TIMEOUT"}, S.TIMEOUT, None),
    ({"start": T0, "end": T1, "exitcode": "0", "status": "TIMEOUT"}, S.TIMEOUT, 0),
    ({"start": T0, "status": "OUT_OF_MEMORY"}, S.OUT_OF_MEMORY, None),
    ({"error": "sbatch: error: bad partition\n"}, S.FAILED, None),
    # the job's own records win over a scheduler that forgot or lags
    ({"start": T0, "end": T1, "exitcode": "0", "status": "RUNNING"}, S.DONE, 0),
    ({"start": T0, "end": T1, "exitcode": "1", "status": "COMPLETED"}, S.FAILED, 1),
])
def test_derive_state(files, state, code):
    got, got_code, _ = S.derive_state(files)
    assert (got, got_code) == (state, code)


def test_derive_state_detail():
    assert S.derive_state({"status": "PENDING (Resources)"})[2] == "PENDING (Resources)"
    assert S.derive_state({"error": "first line\nsecond\n"})[2] == "first line"
