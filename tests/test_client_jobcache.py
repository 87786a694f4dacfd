"""The client's cache of parsed jobs (lib.jobcache): the same records as a full read, never stale."""
import os

from fixture_core import git
from lib import jobs as J
from lib.client import jobcache
from lib.gruntlib import protocol as P

T0, T1 = "2026-01-02 03:04:05 UTC", "2026-01-02 04:05:06 UTC"


def write(wc, rel, files):
    path = os.path.join(wc, rel)
    os.makedirs(path, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(text)


def commit(wc, msg):
    git("add", "-A", cwd=wc)
    git("commit", "-qm", msg, cwd=wc)


def same_as_full_read(wc, folders=("active",)):
    cached = jobcache.scan(wc, folders)
    assert cached == J.scan(wc, folders)
    return {j.id: j for j in cached}


def test_cache_follows_every_committed_change(tmp_path):
    wc = str(tmp_path / "jobs")
    git("init", "-q", wc, cwd=str(tmp_path))
    write(wc, "active/ali000001/p", {"job.message": "one\n", "job.submit": T0 + "\n",
                                     "job.args": "--lr\n0.1\n", "job.start": T0 + "\n"})
    write(wc, "active/ali000002/p", {"job.message": "two\n", "job.array": "0-1\n",
                                     "job.0.start": T0, "job.0.end": T1, "job.0.exitcode": "0"})
    write(wc, "active/ali000000/p", {"grcmd.x": "control directory, not a job\n"})
    commit(wc, "two jobs")
    jobs = same_as_full_read(wc)
    assert sorted(jobs) == ["ali000001", "ali000002"]
    assert os.path.exists(P.state_file(wc, P.JOBS_CACHE))

    # an unchanged job comes from the cache: a file gone from the disk alone is not read again
    os.unlink(os.path.join(wc, "active/ali000001/p/job.message"))
    assert {j.id: j.message for j in jobcache.scan(wc, ("active",))}["ali000001"] == "one"
    git("checkout", "-q", "--", ".", cwd=wc)

    # grund's writes, committed: the changed jobs are read again
    write(wc, "active/ali000001/p", {"job.end": T1 + "\n", "job.exitcode": "3\n"})
    write(wc, "active/ali000002/p", {"job.1.start": T0, "job.1.end": T1, "job.1.exitcode": "0"})
    commit(wc, "ended")
    jobs = same_as_full_read(wc)
    assert (jobs["ali000001"].status, jobs["ali000001"].exit_code) == (J.FAILED, 3)
    assert [t.status for t in jobs["ali000002"].tasks] == [J.DONE, J.DONE]
    assert jobs["ali000002"].status == J.DONE

    # a job moved to the archive, a new one
    os.mkdir(os.path.join(wc, "archive"))
    git("mv", "active/ali000001", "archive/ali000001", cwd=wc)
    write(wc, "active/ali000003/p", {"job.message": "three\n"})
    commit(wc, "archived, submitted")
    jobs = same_as_full_read(wc, J.P.FOLDERS)
    assert (jobs["ali000001"].folder, jobs["ali000003"].status) == ("archive", J.PENDING)
    assert sorted(same_as_full_read(wc)) == ["ali000002", "ali000003"]


def test_half_built_copy_or_broken_cache_is_a_full_read(tmp_path):
    wc = str(tmp_path / "jobs")
    git("init", "-q", wc, cwd=str(tmp_path))
    assert jobcache.scan(wc) == []   # no commit yet
    write(wc, "active/ali000001/p", {"job.message": "one\n"})
    commit(wc, "one")
    same_as_full_read(wc)
    # a command changing the copy (not committed yet): what is on disk
    open(os.path.join(wc, ".git", "grunt-building"), "w").close()
    write(wc, "active/ali000001/p", {"job.start": T0})
    assert jobcache.scan(wc, ("active",))[0].status == J.RUNNING
    os.unlink(os.path.join(wc, ".git", "grunt-building"))
    commit(wc, "started")
    with open(P.state_file(wc, P.JOBS_CACHE), "w") as f:
        f.write("{not json")
    assert same_as_full_read(wc)["ali000001"].status == J.RUNNING


def test_a_listing_at_the_same_commit_is_the_last_output_again(core_proj, core):
    first = core.grunt("jobs", cwd=core_proj).ok().out
    core.submit(cwd=core_proj)
    second = core.grunt("jobs", cwd=core_proj).ok().out      # a new commit: made again
    assert second != first and core.grunt("jobs", cwd=core_proj).ok().out == second
    wide = core.grunt("jobs", "--json", cwd=core_proj).ok().out   # other options: its own
    assert wide.startswith("[") and core.grunt("jobs", cwd=core_proj).ok().out == second
