"""Light runs of the chaos scenarios (make chaos runs them full size and prints figures)."""
import os

import pytest

import chaos


def check(result):
    figures, problems = result
    assert problems == [], "\n".join(problems)
    assert figures["losses"] == 0 and figures["duplicates"] == 0
    return figures


@pytest.mark.system
def test_three_homes_submit_at_once(grunt_hermetic):
    f = check(chaos.concurrency(homes=3, per=4))
    assert (f["distinct ids"], f["grunter submit calls"]) == (12, 12)


@pytest.mark.system
def test_kill_9_of_grund_loses_and_repeats_nothing(grunt_hermetic):
    f = check(chaos.kill9(jobs=5, kills=6, seed=7))
    assert f["kills survived"] >= 6 and f["grunter submit calls"] == f["jobs"] == 5


@pytest.mark.system
def test_kill_9_of_grund_during_retries_runs_each_retry_once(grunt_hermetic):
    f = check(chaos.kill9_retries(jobs=4, kills=6, seed=7, sweeps=2))
    assert f["runs"] == 8 and f["Done at attempt 2"] == 4 and f["kills survived"] >= 6
    assert f["sweeps"] == 2 and f["sweep runs run"] == 2 * 2 * chaos.SWEEP_RUNS


@pytest.mark.system
def test_interrupted_submits_burn_no_id(grunt_hermetic):
    f = check(chaos.interrupt(rounds=4, seed=7))
    assert f["id gaps"] == 0 and f["next submits failed"] == 0


@pytest.mark.system
def test_twin_submits_are_jobs_of_their_own(grunt_hermetic):
    f = check(chaos.twins(homes=3, per=3))
    assert (f["distinct ids"], f["grunter submit calls"], f["on the server"]) == (9, 9, 9)


@pytest.mark.system
def test_submits_cut_off_at_random_are_never_lost_or_run_twice(grunt_hermetic):
    if not os.access("/usr/sbin/sshd", os.X_OK):
        pytest.skip("no sshd")
    ssh = chaos.Ssh()
    try:
        f = check(chaos.network(rounds=5, seed=3, ssh=ssh, alive="1"))
    finally:
        ssh.close()
    assert f["attempted"] == 5 and f["on the server"] == f["run by grunter"]
