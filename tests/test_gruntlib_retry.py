"""The retry policy: the setting's checks and the one pure decision."""
from __future__ import annotations

import json
import os

import pytest

from lib.gruntlib import retry as R
from lib.gruntlib.jobdir import RunnerError
from lib.gruntlib.settings import check
from test_server_retries import retry_project
from test_slurm import rounds_until

POLICY = {"TIMEOUT": {"time": "2x", "max": 3, "cap": {"time": "1-00:00:00"}},
          "OUT_OF_MEMORY": {"memory": "2x", "max": 2}, "NODE_FAIL": {"max": 2}}


@pytest.mark.parametrize("history,state,used,resources,max_", [
    ([], "TIMEOUT", {"time": "1:00:00"}, {"time": "02:00:00"}, 3),
    ([{}], "TIMEOUT", {"time": "30"}, {"time": "01:00:00"}, 3),
    ([{}, {}], "TIMEOUT", {"time": "4:00:00"}, None, 3),             # attempt 3 of 3
    ([], "TIMEOUT", {"time": "16:00:00"}, {"time": "1-00:00:00"}, 3),  # capped
    ([], "TIMEOUT", {"time": "1-00:00:00"}, None, 3),                 # at the cap already
    ([], "TIMEOUT", {"time": None}, None, 3),                         # nothing to scale
    ([], "OUT_OF_MEMORY", {"memory": "4G", "cpus": 2}, {"memory": "8G", "cpus": 2}, 2),
    ([], "OUT_OF_MEMORY", {"memory": "1500M"}, {"memory": "3000M"}, 2),
    ([{}], "OUT_OF_MEMORY", {"memory": "8G"}, None, 2),
    ([], "NODE_FAIL", {"time": "10"}, {"time": "10"}, 2),
    ([], "FAILED", {"time": "10"}, None, 1),                          # no rule
    ([], "COMPLETED", {}, None, 1),
])
def test_decide(history, state, used, resources, max_):
    d = R.decide(R.check(POLICY), history, state, used)
    assert (d.resources, d.max) == (resources, max_), d.why
    assert d.why.startswith(state)


def test_an_absolute_value_replaces_the_resource():
    d = R.decide(R.check({"TIMEOUT": {"time": "8:00:00", "max": 2}}), [], "TIMEOUT",
                 {"time": "1:00:00"})
    assert d.resources == {"time": "08:00:00"}


@pytest.mark.parametrize("policy,words", [
    ({"TIMEOUTT": {"max": 2}}, "unknown end state 'TIMEOUTT' (known: TIMEOUT, OUT_OF_MEMORY"),
    ({"TIMEOUT": {"max": 2, "mem": "2x"}}, "unknown setting 'mem' (known: max, time, memory"),
    ({"TIMEOUT": {"time": "2x"}}, "max (attempts in all) must be a whole number"),
    ({"TIMEOUT": {"time": "twice", "max": 2}}, "time must be a factor like '2x'"),
    ({"TIMEOUT": {"max": 2, "cap": {"time": "2x"}}}, "time must be a factor like '2x' or a value"),
    ("TIMEOUT", "setting retry must be a dict"),
])
def test_a_bad_policy_names_what_is_known(policy, words):
    with pytest.raises(RunnerError) as e:
        check({"retry": policy})
    assert words in str(e.value)


def test_time_and_memory_formats():
    assert [R.time_seconds(t) for t in ("30", "1:30", "2:00:00", "1-0", "1-2:03:04")] == [
        1800, 90, 7200, 86400, 93784]
    assert R.format_time(90) == "00:02:00" and R.format_time(2 * 86400) == "2-00:00:00"
    assert R.memory_mb("2G") == 2048 and R.format_memory(3072) == "3G"


# A stand-in for the states the test Slurm cannot produce (no cgroups): the job
# records OUT_OF_MEMORY / NODE_FAIL in its own job.status, as the runner would.
STAND_IN = ('if [ -e tried ]; then echo fine; else touch tried; sleep 0.3; '
            'echo "$1" > job.status; exit 137; fi\n')


@pytest.mark.parametrize("state,resources", [("OUT_OF_MEMORY", {"memory": "8G"}),
                                             ("NODE_FAIL", {"memory": "4G"})])
def test_oom_and_node_fail_from_a_stand_in_are_retried(core, state, resources):
    top = retry_project(core, run_sh=STAND_IN, retry=POLICY)
    jid = core.grunt("submit", state, "-m", "m", cwd=top).ok().out.strip()
    jobs = rounds_until(core, top, lambda js: len(js[jid].get("attempts", [])) == 2, timeout=30)
    first, second = jobs[jid]["attempts"]
    assert first["state"] == state and first["resources"]["memory"] == "4G"
    assert {k: v for k, v in first["next"].items() if k == "memory"} == resources
    assert second["state"] == "COMPLETED" and jobs[jid]["status"] == "Done"
    used = json.loads(core.read(os.path.join(core.sjob(jid), "job.retry")))["resources"]
    assert used["memory"] == resources["memory"]
