"""The digest line: what jobs did since the user's last command, on stderr."""
from __future__ import annotations

import os
import re
import time

from fixture_core import git
from test_server_retries import FLAKY, retry_project
from test_slurm import example, rounds_until


def test_one_line_says_what_ended_since_the_last_command(core, monkeypatch):
    monkeypatch.setenv("GRUNT_DIGEST", "1")
    core.newproj("p")
    top = core.project("p", grunter="", run_sh='[ "$1" != bad ] || exit 2\n',
                       files={"grunter.py": example(runner="local")})
    ok, bad = core.submit("good", cwd=top), core.submit("bad", cwd=top)
    assert "since" not in core.grunt("jobs", cwd=top).ok().err
    rounds_until(core, top, lambda js: all(j["status"] in ("Done", "Failed") for j in js.values()),
                 timeout=30)
    # rounds_until's own `jobs` calls saw the ends: a new pair of jobs for the line
    ok2, bad2 = core.submit("good", cwd=top), core.submit("bad", cwd=top)
    deadline = time.monotonic() + 30
    while not all(os.path.exists(os.path.join(core.sjob(j), "job.end")) for j in (ok2, bad2)):
        core.grund("--once", "-q", "--refresh", "0")
        assert time.monotonic() < deadline
        time.sleep(0.2)
    for _ in range(2):   # the ends committed, the status asked
        core.grund("--once", "-q", "--refresh", "0")
    err = core.grunt("jobs", cwd=top).ok().err
    assert re.search(rf"^grunt: since \d\d:\d\d: 1 Done, 1 Failed \({bad2}\)$", err, re.M), err
    assert "since" not in core.grunt("jobs", cwd=top).ok().err   # said once


def test_a_retry_is_in_the_line_and_the_line_can_be_turned_off(core, monkeypatch):
    monkeypatch.setenv("GRUNT_DIGEST", "1")
    top = retry_project(core, run_sh=FLAKY, retry={"FAILED": {"max": 2}})
    jid = core.submit(cwd=top)
    core.grund("--once", "-q", "--refresh", "0")
    lines = []
    for _ in range(60):
        core.grund("--once", "-q", "--refresh", "0")
        r = core.grunt("jobs", "all", cwd=top).ok()
        lines += [ln for ln in r.err.splitlines() if "since" in ln]
        if f"{jid} " in r.out and "Done (attempt 2 of 2)" in r.out:
            break
        time.sleep(0.2)
    assert any("1 Failed -> retried" in ln for ln in lines), lines
    assert any("1 Done" in ln for ln in lines), lines
    git("config", "grunt.digest", "false", cwd=top)
    j2 = core.submit(cwd=top)
    rounds_until(core, top, lambda js: js[j2]["status"] == "Done", timeout=30)
    assert "since" not in core.grunt("jobs", cwd=top).ok().err
