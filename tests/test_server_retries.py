"""Retries and held jobs as grund runs them without the laptop (the local runner:
real processes; Slurm's own end states are in test_slurm.py)."""
from __future__ import annotations

import json
import os
import time

import pytest

from test_slurm import example, rounds_until

# fails on its first attempt, succeeds on the next (the job directory is the same)
FLAKY = 'if [ -e tried ]; then echo "second try"; else touch tried; echo first; exit 3; fi\n'


def retry_project(core, run_sh=FLAKY, **settings):
    core.newproj("p")
    return core.project("p", grunter="", run_sh=run_sh,
                        files={"grunter.py": example(runner="local", **settings)})


def settled(jid):
    return lambda js: js[jid]["status"] not in ("Pending", "Running") and \
        js[jid].get("attempt_open") is not True


def test_a_failed_attempt_is_retried_and_every_attempt_recorded(core):
    top = retry_project(core, retry={"FAILED": {"max": 3}})
    jid = core.submit(cwd=top)
    jobs = rounds_until(core, top, lambda js: js[jid]["status"] == "Done", timeout=30)
    assert jobs[jid]["attempt"] == 2 and len(jobs[jid]["attempts"]) in (1, 2)
    job = core.sjob(jid)
    recs = [json.loads(ln) for ln in core.read(os.path.join(job, "job.attempts")).splitlines()]
    assert [(r["attempt"], r["state"], r["exitcode"]) for r in recs[:1]] == [(1, "FAILED", 3)]
    assert recs[0]["next"] == {"time": "1:00:00", "memory": "4G", "cpus": 1}
    assert core.read(os.path.join(job, "job.try1.out")) == "first\n"
    table = core.grunt("jobs", cwd=top).ok().out
    assert "Done (attempt 2 of 3)" in table
    assert core.grunt("out", jid, cwd=top).ok().out == "second try\n"
    assert core.grunt("out", jid, "--attempt", "1", cwd=top).ok().out == "first\n"
    shown = core.grunt("show", jid, cwd=top).ok().out
    assert "attempt 1" in shown and "FAILED" in shown


def test_retries_stop_at_max(core):
    top = retry_project(core, run_sh="echo no; exit 5\n", retry={"FAILED": {"max": 2}})
    jid = core.submit(cwd=top)
    rounds_until(core, top, lambda js: js[jid]["status"] == "Failed" and js[jid].get("attempt") == 2,
                 timeout=30)
    for _ in range(3):
        core.grund("--once", "-q", "--refresh", "0")
    job = core.sjob(jid)
    recs = core.read(os.path.join(job, "job.attempts")).splitlines()
    assert len(recs) == 2 and json.loads(recs[1])["next"] is None
    assert not os.path.exists(os.path.join(job, "job.try2.out"))


CHAIN = 'echo "$1 at $(date +%s.%N)" >> ../../../order.txt; [ "$1" != bad ] || exit 4\n'


def test_a_chain_of_three_runs_in_order_and_a_failed_parent_cancels_its_ok_child(core):
    core.newproj("p")
    top = core.project("p", grunter="", run_sh=CHAIN + "sleep 0.3\n",
                       files={"grunter.py": example(runner="local")})
    a = core.submit("a", cwd=top)
    b = core.grunt("submit", "--after", a, "b", "-m", "b", cwd=top).ok().out.strip()
    c = core.grunt("submit", "--after", f"{b}:ok", "c", "-m", "c", cwd=top).ok().out.strip()
    bad = core.submit("bad", cwd=top)
    okchild = core.grunt("submit", "--after", bad, "x", "-m", "x", cwd=top).ok().out.strip()
    notok = core.grunt("submit", "--after", f"{bad}:notok", "y", "-m", "y", cwd=top).ok().out.strip()
    core.grund()
    jobs = core.jobs("all", cwd=top)
    assert jobs[c]["status"] == "Pending" and jobs[c]["after"] == f"{b}:ok"
    assert "Pending after" in core.grunt("jobs", cwd=top).ok().out
    jobs = rounds_until(core, top, lambda js: all(
        js[j]["status"] not in ("Pending", "Running") for j in (a, b, c, okchild, notok)), timeout=30)
    assert [jobs[j]["status"] for j in (a, b, c)] == ["Done"] * 3
    order = core.read(os.path.join(core.swc("p"), "order.txt"))
    firsts = [ln.split()[0] for ln in order.splitlines()]
    assert firsts.index("a") < firsts.index("b") < firsts.index("c")
    assert jobs[okchild]["status"] == "Canceled" and "x" not in firsts
    assert f"parent {bad} ended Failed" in core.grunt("show", okchild, cwd=top).ok().out
    assert jobs[notok]["status"] == "Done"


def test_a_child_of_a_job_that_ended_already_runs(core):
    core.newproj("p")
    top = core.project("p", grunter="", files={"grunter.py": example(runner="local")})
    a = core.submit(cwd=top)
    rounds_until(core, top, lambda js: js[a]["status"] == "Done", timeout=30)
    b = core.grunt("submit", "--after", a, "-m", "late", cwd=top).ok().out.strip()
    assert rounds_until(core, top, lambda js: js[b]["status"] == "Done", timeout=30)


def test_a_dependency_on_no_job_or_on_itself_is_refused_with_nothing_pushed(core):
    core.newproj("p")
    top = core.project("p", grunter="", files={"grunter.py": example(runner="local")})
    a = core.submit(cwd=top)
    tip = core.read(os.path.join(core.bare(), "refs", "heads", "main")) if os.path.exists(
        os.path.join(core.bare(), "refs", "heads", "main")) else None
    for word, what in (("99", "no such job"), ("2", "wait for itself"),
                       (f"{a}:maybe", "ok, any or notok"), ("x y", "not a job id")):
        r = core.grunt("submit", "--after", word, "-m", "m", cwd=top)
        assert r.rc != 0 and what in r.err and "Traceback" not in r.err, (word, r)
        assert len(r.err.strip().splitlines()) == 1
    assert list(core.jobs("all", cwd=top)) == [a]
    if tip:
        assert core.read(os.path.join(core.bare(), "refs", "heads", "main")) == tip


HOOK = '#!/bin/sh\necho "$1 $2 $3 $4 attempt=$GRUNT_ATTEMPT retried=$GRUNT_RETRIED" >> "$HOME/hook.txt"\n'


def install_hook(core, text, when=None):
    path = os.path.join(core.srv, "grunt", "srv", "blanca", "hooks", "job-end")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    core.write(path, text)
    os.chmod(path, 0o755)
    if when:
        core.write(path + ".when", when + "\n")
    return path


def test_the_end_hook_is_told_of_every_end_and_a_hanging_one_does_not_stop_grund(core, caplog):
    top = retry_project(core, retry={"FAILED": {"max": 2}})
    install_hook(core, HOOK)
    jid = core.submit(cwd=top)
    rounds_until(core, top, lambda js: len(js[jid].get("attempts", [])) == 2, timeout=30)
    lines = core.read(os.path.join(core.srv, "hook.txt")).splitlines()
    assert lines == [f"{jid} Failed p why attempt=1 retried=1", f"{jid} Done p why attempt=2 retried=0"]

    # final only, and a hook that hangs: killed after --hook-timeout, grund goes on
    install_hook(core, HOOK + "sleep 60\n", when="final")
    failing = core.submit("x", cwd=top)
    t0 = time.monotonic()
    while core.jobs(cwd=top)[failing]["status"] != "Done":
        core.grund("--once", "-q", "--refresh", "0", "--hook-timeout", "1")
        assert time.monotonic() - t0 < 20
        time.sleep(0.2)
    core.grund("--once", "-q", "--refresh", "0", "--hook-timeout", "1")
    lines = core.read(os.path.join(core.srv, "hook.txt")).splitlines()
    assert lines[2:] == [f"{failing} Done p why attempt=2 retried=0"]
    assert "did not end within 1 s and was killed" in caplog.text

    install_hook(core, "#!/bin/sh\nexit 7\n", when="every")
    bad = core.submit("y", cwd=top)
    rounds_until(core, top, lambda js: js[bad]["status"] == "Done", timeout=30)
    assert "failed (exit 7" in caplog.text


class Killed(BaseException):
    """grund dying at a chosen point (as a kill -9 would: nothing after it runs)."""


COUNTED = ('echo x >> ../../../runs.txt\n' + FLAKY)


def _once(fn):
    """fn, but the first call kills grund instead."""
    state = {"done": False}

    def wrapper(*a, **kw):
        if not state["done"]:
            state["done"] = True
            raise Killed(fn.__name__)
        return fn(*a, **kw)
    return wrapper


def kill_at(monkeypatch, point, mod, name, renamed):
    """Make grund die once at ``point``: in ``mod.name`` (the archive step) before
    it ran ("decided") or after it renamed the files ``renamed`` (old, new) only
    ("half-archived"), before the retry's submit ("archived"), after grunter.py
    submit ran for the first attempt ("first submit") or for the retry ("submitted")."""
    from lib.server import grunter, project
    if point == "decided":
        monkeypatch.setattr(mod, name, _once(getattr(mod, name)))
    elif point == "half-archived":
        def half(job, rec):   # one of attempt 1's files renamed, then dead
            os.replace(job.file(renamed[0]), job.file(renamed[1]))
            raise Killed("half archived")
        monkeypatch.setattr(mod, name, half)
    elif point == "archived":
        monkeypatch.setattr(project.ServedProject, "submit_once",
                            _once(project.ServedProject.submit_once))
    else:   # grund dies once grunter.py submit has run: of attempt 1 (its record stays
        real = grunter._handled      # behind), or of the retry

        def handled(call, *a):
            if call.cmd == "submit" and call.job.has("job.attempt") == (point == "submitted"):
                raise Killed("after grunter.py submit ran")
            return real(call, *a)
        monkeypatch.setattr(grunter, "_handled", handled)


def die_then_finish(core, monkeypatch, top, jid, records):
    """grund rounds until one dies (kill_at), then rounds of a sound grund until
    the job is Done with ``records`` lines in job.attempts."""
    with pytest.raises(Killed):
        for _ in range(100):
            core.grund("--once", "-q", "--refresh", "0")
            time.sleep(0.1)
    monkeypatch.undo()
    # Done shows from the job's own end; grund records its decision on it once
    # the runner has confirmed the end (the same round or the next)
    rounds_until(core, top, lambda js: js[jid]["status"] == "Done"
                 and len(js[jid].get("attempts", [])) == records, timeout=30)


@pytest.mark.parametrize("point", ["first submit", "decided", "half-archived", "archived",
                                   "submitted"])
def test_a_kill_between_deciding_and_submitting_gives_exactly_one_retry(core, monkeypatch, point):
    from lib.server import retries
    top = retry_project(core, run_sh=COUNTED, retry={"FAILED": {"max": 3}})
    kill_at(monkeypatch, point, retries, "_archive", ("job.out", "job.try1.out"))
    jid = core.submit(cwd=top)
    job = core.sjob(jid)
    die_then_finish(core, monkeypatch, top, jid, 2)
    assert core.read(os.path.join(core.swc("p"), "runs.txt")) == "x\nx\n"   # two runs, no more
    recs = [json.loads(ln) for ln in core.read(os.path.join(job, "job.attempts")).splitlines()]
    assert [(r["attempt"], r["state"], bool(r["next"])) for r in recs] == [
        (1, "FAILED", True), (2, "COMPLETED", False)]
    assert core.read(os.path.join(job, "job.try1.out")) == "first\n"
    assert core.read(os.path.join(job, "job.out")) == "second try\n"


def test_a_child_waits_for_its_parents_retries(core):
    top = retry_project(core, run_sh=FLAKY + 'echo "$1" >> ../../../order.txt\n',
                        retry={"FAILED": {"max": 2}})
    parent = core.submit("parent", cwd=top)
    child = core.grunt("submit", "--after", parent, "child", "-m", "c", cwd=top).ok().out.strip()
    jobs = rounds_until(core, top, lambda js: js[child]["status"] in ("Done", "Canceled"),
                        timeout=30)
    assert jobs[parent]["status"] == "Done" and jobs[parent]["attempt"] == 2
    assert jobs[child]["status"] == "Done"   # not canceled when attempt 1 of its parent failed
    order = core.read(os.path.join(core.swc("p"), "order.txt")).split()
    assert order.index("child") > order.index("parent")


def test_the_end_hook_hears_of_a_job_that_ended_while_it_was_submitted(core):
    core.newproj("p")
    top = core.project("p")   # the test grunter runs the job within its submit
    install_hook(core, HOOK, when="final")
    jid = core.submit(cwd=top)
    core.grund()
    assert core.read(os.path.join(core.srv, "hook.txt")) == f"{jid} Done p why attempt=1 retried=0\n"



def bare_job(tmp_path):
    """(its directory, the JobDir, files(name=text, ...) writing job.<name>, _ a dot)."""
    from lib.gruntlib.jobdir import JobDir
    d = tmp_path / "active" / "ali000001" / "p"
    d.mkdir(parents=True)

    def files(**kw):
        for name, text in kw.items():
            (d / ("job." + name.replace("_", "."))).write_text(text + "\n")
    return d, JobDir(str(d)), files


def test_phases_from_the_files_alone(tmp_path):
    """What grund does next is read from the job's files (a restarted grund goes on)."""
    from lib.server import retries as R
    d, job, files = bare_job(tmp_path)
    assert R.phase(job) == R.NONE
    files(retry='{"policy": {"FAILED": {"max": 2}}, "resources": {}}')
    assert R.phase(job) == R.RUNNING                  # not submitted yet: attempt 1
    files(pid="1", start="t", end="t", exitcode="3", status="RUNNING")
    assert R.phase(job) == R.ENDING                   # ended, the runner has not said how
    files(status="FAILED")
    assert R.phase(job) == R.ENDED
    files(attempts='{"attempt": 1, "next": null}')
    assert R.phase(job) == R.CLOSED                    # decided: no retry
    files(attempts='{"attempt": 1, "next": {"time": "2"}}')
    assert R.phase(job) == R.RETRYING
    for name in ("pid", "start", "end", "exitcode", "status"):
        (d / f"job.{name}").unlink()
    files(attempt='{"attempt": 2, "max": 2, "resources": {"time": "2"}}')
    assert R.phase(job) == R.TO_SUBMIT
    files(canceled="t", status="CANCELLED")            # Slurm's cancel of an unsubmitted job
    assert R.phase(job) == R.CLOSED                    # never submitted after a cancel


def test_a_job_after_a_whole_array_runs_once_every_task_has_ended(core):
    core.newproj("p")
    top = core.project("p", grunter="", run_sh='echo "$1 ${SLURM_ARRAY_TASK_ID:-}" >> ../../../order.txt\n',
                       files={"grunter.py": example(runner="local", array="0-2")})
    arr = core.submit("task", cwd=top)
    core.write(os.path.join(top, "grunter.py"), example(runner="local"))
    after = core.grunt("submit", f"--after={arr}:any", "after", "-m", "m", cwd=top).ok().out.strip()
    # (the array's own row may say Done one round after its last task has ended)
    rounds_until(core, top, lambda js: js[after]["status"] == js[arr]["status"] == "Done",
                 timeout=30)
    order = core.read(os.path.join(core.swc("p"), "order.txt")).splitlines()
    assert order == ["task 0", "task 1", "task 2", "after "]
