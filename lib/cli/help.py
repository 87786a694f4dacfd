"""The help texts: one usage line and a paragraph for each command."""
from __future__ import annotations

import re

from .. import config
from ..errors import GruntError, UsageError
from .common import say

HELP: dict[str, tuple[str, str]] = {
    "newproj": ("newproj <proj> [<remote>] [--user <owner>]",
                "On the server (one argument): create the project's repositories under ~/grunt.\n"
                "On the client: set the project up against <remote>, which is [user@]host\n"
                "(an ssh-config alias works) or an absolute path standing for the server's home.\n"
                "--user <owner>: read <owner>'s shared project <proj> instead (read-only copy)."),
    "newproj-server": ("newproj-server <proj>",
                       "From an existing project: ask grund on the server to create project <proj>."),
    "submit": ("submit [--after <jobid>[:ok|any|notok]] [args...] -m 'message' [-- args...]",
               "Snapshot the project's git-tracked files (plus grunter.py) into a new job,\n"
               "push it and print the job id.  -m 'message' must come last, or before --:\n"
               "every word after -- is the program's, -m too.\n"
               "--after: grund holds the job until <jobid> has ended (ok: Done, the default;\n"
               "notok: not Done; any), then submits it, or cancels it saying why."),
    "sweep": ("sweep name=v1,v2 [name=a..b[:step]] [options] [-- fixed args] -m 'msg'",
              "Many runs of the project from one snapshot, as one job with a task per run\n"
              "(<jobid>_<task>).  Options: [--zip a,b] [--table runs.tsv] [--repeat N]\n"
              "[--style S | --eq | --hydra] [--parallel K] [--pack P] [-n] [--yes].\n"
              "Parameters are crossed; --zip pairs them; --table takes one\n"
              "run per row.  Each run gets --name value (--eq: --name=value, --hydra: name=value)\n"
              "and the args after --.  -n: show the runs and submit nothing.  Above 1000 runs: --yes."),
    "jobs": ("jobs [active|done|archive|delete|all] [-n N] [--json] [--tree] [--user <owner>]",
             "List jobs: id, server, scheduler id, status, submit, start, end, args, message.\n"
             "Default: active.  done: finished active jobs.  all: with their folder.\n"
             "-n N: the newest N.  --json: machine-readable.\n"
             "--tree: resubmitted jobs below the job they came from.\n"
             "--user <owner>: the jobs of another user who shared the project with you.\n"
             "Warns when grund on the server was stopped or has not been seen for 10 minutes."),
    "status": ("status [--json] [jobid..]",
               "Ask grund to refresh the scheduler state of the jobs (default: unfinished active jobs)\n"
               "and show them as refreshed: it waits up to 10 s for grund's answer (GRUNT_STATUS_WAIT)."),
    "update": ("update [jobid..] [files..]",
               "Ask grund to copy results into the results repository (default: every active job)\n"
               "and link gresults/<jobid> to them.  Alias: results."),
    "pull": ("pull [--user <owner>]",
             "Fetch the jobs and results repositories from the server.\n"
             "--user <owner>: another user's shared project, into a read-only copy,\n"
             "linked as gresults/<owner>/<jobid>."),
    "out": ("out [-f] [--attempt N] <jobid..> [--user <owner>]",
            "Print the jobs' output: job.error when submission failed, then job.out and\n"
            "every other job*.out and job*.err file.  -f: follow one job's output on the\n"
            "server until the job ends, then say its state (exit 1 unless Done).\n"
            "--attempt N: the output of attempt N of a job grund retried (default: the latest)."),
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
    "message": ("message <jobid> ['new text']", "Replace a job's message; without text, print it."),
    "delete": ("delete <jobid..>", "Move the jobs to delete/ (a running job is canceled first)."),
    "archive": ("archive <jobid..>", "Move finished jobs to archive/."),
    "nuke": ("nuke <jobid..>", "Remove the jobs and their results for good."),
    "undelete": ("undelete <jobid..>", "Bring deleted jobs back to active/, with their results."),
    "show": ("show <jobid> [--user <owner>]",
             "Everything recorded about a job: message, args, state, times, scheduler id,\n"
             "the source commit, branch and remote, the uncommitted changes, what was not shipped."),
    "log": ("log <jobid> [--user <owner>]",
            "The commits that submitted, updated, moved or nuked a job, with their times."),
    "resubmit": ("resubmit <jobid> [options] [args...] -m 'message'",
                 "A new job from the stored snapshot of <jobid> (not from the current directory),\n"
                 "with its args unless new ones are given; job.parent names <jobid>.\n"
                 "Options: [--failed|--timeout|--oom|--tasks 3,5..7] [--time 2x|4:00:00]\n"
                 "[--mem 2x|16G] [-n].\n"
                 "--failed/--timeout/--oom/--tasks: only those runs of a sweep (tasks of an array);\n"
                 "--time/--mem: scale (2x) or set the limits.  <jobid>_<task>: that one run."),
    "share": ("share <proj> <unix-group>",
              "On the server: let <unix-group> read the project's repositories (never write).\n"
              "Colleagues then run e.g. grunt jobs --user <you> and grunt pull --user <you>."),
    "server": ("server [<name>]", "Show the project's server, or set it (file grunt.server)."),
    "queue": ("queue", "Show the scheduler queue and partitions on the server (grunter.py queue)."),
    "server-status": ("server-status [--json]",
                      "When grund on the server was last seen, its version and its pending work;\n"
                      "exit 1 when it was stopped, not seen for 10 minutes, is stuck or has a problem."),
    "init": ("init [--force]",
             "Write grunter.py into the current project from grunter_example.py."),
    "compare": ("compare [runs..] [--col C[:stat],..] [options]",
                "A table of runs (jobs, sweep tasks <jobid>_<task>; default: the active jobs):\n"
                "the parameters that differ, state, time, and the final figures of the result\n"
                "files (CSV, TSV, etable; key: value lines of job.out), from the laptop's copy\n"
                "(grunt pull first).  --col C[:stat]: columns, each with last|min|max|mean;\n"
                "--stat S: the figure of every column (default last); --sort C [--desc];\n"
                "--top N; --file GLOB: the result files to read; --csv or --json."),
    "plot": ("plot [runs..] --y COL [--x COL] [--by PARAM]",
             "A line chart of column COL in the terminal, one line per run; --by PARAM:\n"
             "one line per value of PARAM, the mean over its runs with their min..max band.\n"
             "--height N: rows (default 16); --file GLOB: the result files to read."),
    "report": ("report [runs..] [-o report.html] [options]",
               "One self-contained HTML file (no network, no script): charts of the columns\n"
               "(--y COL, repeated; default the first six; --x, --by as for plot), the compare\n"
               "table (compare's options) and the jobs with messages, args, states, times."),
    "help": ("help [<command>]", "Show help."),
}
ALIASES = {"results": "update"}


def summary(text: str) -> str:
    """A help paragraph's first sentence, whole (its first line may stop mid-sentence)."""
    flat = " ".join(text.split())
    m = re.search(r"(?<!\be\.g)(?<!\bi\.e)[.!?](?=\s|$)", flat)
    return flat[:m.end()] if m else flat


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
        say(f"  {usage:48s} {summary(text)}")
    try:
        mine = config.prefix()
    except GruntError:
        mine = "abc"
    say(f"\nJob ids: {mine}000012, 12 (your job 12), lists, and ranges like {mine}000011..22.\n"
        "grunt help <command> tells more.")
    return 0
