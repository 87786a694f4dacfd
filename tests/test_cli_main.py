"""The command line as a whole: help, unknown commands, usage errors, Ctrl-C, --version."""
import os

from lib import cli


def test_help(core):
    r = core.grunt("help").ok()
    assert r.out.startswith("usage: grunt <command> [args]")
    for cmd in ("newproj", "submit", "jobs", "status", "update", "pull", "out", "ls", "diff",
                "link", "unlink", "cancel", "message", "delete", "archive", "nuke", "server"):
        assert f"\n  {cmd} " in r.out
    bare = core.grunt()   # no command: the usage, as a usage error
    assert (bare.rc, bare.out) == (2, r.out)
    # every summary is a whole sentence, not a first line cut mid-sentence
    summaries = [ln for ln in r.out.splitlines() if ln.startswith("  ")]
    assert len(summaries) > 20 and all(ln.rstrip().endswith(".") for ln in summaries), summaries
    r = core.grunt("help", "submit").ok()
    assert r.out.startswith("usage: grunt submit [--after <jobid>[:ok|any|notok]] [args...] -m 'message' [-- args...]\n\n")
    assert core.grunt("jobs", "--help").ok().out.startswith("usage: grunt jobs ")
    assert core.grunt("help", "results").ok().out.startswith("usage: grunt update ")
    r = core.grunt("help", "frobnicate")
    assert r.rc == 2 and r.err == "grunt: error: no such command: frobnicate (see: grunt help)\n"


def test_unknown_command(core):
    r = core.grunt("frobnicate", "x")
    assert (r.rc, r.out) == (2, "")
    assert r.err == "grunt: error: unknown command 'frobnicate' (see: grunt help)\n"


def test_usage_error_is_one_line(core, core_proj):
    r = core.grunt("jobs", "sometimes", cwd=core_proj)
    assert r.rc == 2 and r.err.count("\n") == 1 and "(see: grunt help jobs)" in r.err


def test_interrupt_and_version(core, monkeypatch):
    def interrupted(a):
        raise KeyboardInterrupt
    monkeypatch.setitem(cli.COMMANDS, "jobs", cli.Command(interrupted, "listing.jobs_args"))
    r = core.grunt("jobs")
    assert (r.rc, r.err) == (130, "grunt: interrupted\n")
    from lib import __version__
    assert core.grunt("--version").ok().out == f"grunt {__version__}\n"


def test_usage_examples_use_the_users_own_prefix(core, core_proj):
    core.write(os.path.join(core.cli, ".grunt.prefix"), "xyz\n")
    r = core.grunt("help", cwd=core_proj).ok()
    assert "Job ids: xyz000012, 12 (your job 12), lists, and ranges like xyz000011..22." in r.out
    assert "abc0" not in r.out
    r = core.grunt("out", "x..", cwd=core_proj)
    assert r.rc == 2 and "expected e.g. xyz000012, 12 or xyz000011..22" in r.err
    r = core.grunt("cancel", cwd=core_proj)
    assert r.rc == 2 and "e.g. 12 or xyz000011..22" in r.err
