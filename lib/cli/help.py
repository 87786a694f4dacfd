"""The help texts: one usage line and a paragraph for each command."""
from __future__ import annotations

from ..errors import UsageError
from .common import say

HELP: dict[str, tuple[str, str]] = {
    "newproj": ("newproj <proj> [<remote>] [--user <owner>]",
                "On the server (one argument): create the project's repositories under ~/grunt.\n"
                "On the client: set the project up against <remote>, which is [user@]host\n"
                "(an ssh-config alias works) or an absolute path standing for the server's home.\n"
                "--user <owner>: read <owner>'s shared project <proj> instead (read-only copy)."),
    "newproj-server": ("newproj-server <proj>",
                       "From an existing project: ask grund on the server to create project <proj>."),
    "submit": ("submit [--after <jobid>[:ok|any|notok]] [args...] -m 'message'",
               "Snapshot the project's git-tracked files (plus grunter.py) into a new job,\n"
               "push it and print the job id.  -m 'message' must come last.\n"
               "--after: grund holds the job until <jobid> has ended (ok: Done, the default;\n"
               "notok: not Done; any), then submits it, or cancels it saying why."),
    "jobs": ("jobs [active|done|archive|delete|all] [--json] [--tree] [--user <owner>]",
             "List jobs: id, server, scheduler id, status, submit, start, end, args, message.\n"
             "Default: active.  done: finished active jobs.  --json: machine-readable.\n"
             "--tree: resubmitted jobs below the job they came from.\n"
             "--user <owner>: the jobs of another user who shared the project with you.\n"
             "Warns when grund on the server has not been seen for 10 minutes."),
    "status": ("status [--json] [jobid..]",
               "Ask grund to refresh the scheduler state of the jobs (default: unfinished active jobs)."),
    "update": ("update [jobid] [files..]",
               "Ask grund to copy results into the results repository (default: every active job)\n"
               "and link gresults/<jobid> to them.  Alias: results."),
    "pull": ("pull [--user <owner>]",
             "Fetch the jobs and results repositories from the server.\n"
             "--user <owner>: another user's shared project, into a read-only copy,\n"
             "linked as gresults/<owner>/<jobid>."),
    "out": ("out [-f] [--attempt N] <jobid..> [--user <owner>]",
            "Print the jobs' output (job.out, and job.error when submission failed).\n"
            "--attempt N: the output of attempt N of a job grund retried (default: the latest).\n"
            "-f: follow one job's output on the server until the job ends."),
    "wait": ("wait [jobid..]",
             "Wait until the jobs (default: the unfinished active ones) have finished;\n"
             "exit 1 when any of them did not end Done."),
    "ls": ("ls [--json] <jobid..>", "List the files of the jobs on the server (from job.list)."),
    "diff": ("diff <jobid1> [jobid2] | diff <jobid> --source",
             "Diff a job against the current project, or two jobs (job.* and grcmd.* left out).\n"
             "--source: the job against the commit it was submitted from (see job.source)."),
    "link": ("link <jobid..>", "Make gresults/<jobid> point at the job's results."),
    "unlink": ("unlink <jobid..>", "Remove gresults/<jobid> links."),
    "cancel": ("cancel <jobid..>", "Cancel the jobs (passed to grunter.py cancel)."),
    "message": ("message <jobid> 'new text'", "Replace a job's message."),
    "delete": ("delete <jobid..>", "Move the jobs to delete/ (a running job is canceled first)."),
    "archive": ("archive <jobid..>", "Move finished jobs to archive/."),
    "nuke": ("nuke <jobid..>", "Remove the jobs and their results for good."),
    "undelete": ("undelete <jobid..>", "Bring deleted jobs back to active/, with their results."),
    "show": ("show <jobid> [--user <owner>]",
             "Everything recorded about a job: message, args, state, times, scheduler id,\n"
             "the source commit, branch and remote, the uncommitted changes, what was not shipped."),
    "log": ("log <jobid> [--user <owner>]",
            "The commits that submitted, updated, moved or nuked a job, with their times."),
    "resubmit": ("resubmit <jobid> [args...] -m 'message'",
                 "A new job from the stored snapshot of <jobid> (not from the current directory),\n"
                 "with its args unless new ones are given; job.parent names <jobid>."),
    "share": ("share <proj> <unix-group>",
              "On the server: let <unix-group> read the project's repositories (never write).\n"
              "Colleagues then run e.g. grunt jobs --user <you> and grunt pull --user <you>."),
    "server": ("server [<name>]", "Show the project's server, or set it (file grunt.server)."),
    "queue": ("queue", "Show the scheduler queue and partitions on the server (grunter.py queue)."),
    "server-status": ("server-status [--json]",
                      "When grund on the server was last seen, its version and its pending work;\n"
                      "exit 1 when it has not been seen for 10 minutes."),
    "init": ("init [--force]",
             "Write grunter.py into the current project from grunter_example.py."),
    "help": ("help [<command>]", "Show help."),
}
ALIASES = {"results": "update"}


def show(command: str | None) -> int:
    """``grunt help [<command>]``."""
    if command:
        name = ALIASES.get(command, command)
        if name not in HELP:
            raise UsageError(f"no such command: {command} (see: grunt help)")
        usage, text = HELP[name]
        say(f"usage: grunt {usage}\n\n{text}")
        return 0
    say("usage: grunt <command> [args]\n\ncommands:")
    for name, (usage, text) in HELP.items():
        say(f"  {usage:48s} {text.splitlines()[0]}")
    say("\nJob ids: abc000012, 12 (your job 12), lists, and ranges like abc000011..22.\n"
        "grunt help <command> tells more.")
    return 0
