"""Light runs of the chaos scenarios (make chaos runs them full size and prints figures)."""
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
def test_interrupted_submits_burn_no_id(grunt_hermetic):
    f = check(chaos.interrupt(rounds=4, seed=7))
    assert f["id gaps"] == 0 and f["next submits failed"] == 0
