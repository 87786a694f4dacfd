"""Sweeps: ``grunt sweep`` (many runs, one snapshot, one push) and the options of
``resubmit`` that rerun some runs of a job (--failed, --tasks, --time 2x ...).

``grunt sweep [name=values..] [options] [-- fixed args..] -m 'msg'``: the
words before ``--`` are parameters and options, those after it are given to
every run; ``-m`` comes last, as for submit.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
from argparse import Namespace

from ..client import submit as S, sweep as SW
from ..client.project import Project, find_projdir
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P, sweep as GS
from .common import say
from .submit import message_words, split_message, submit_here

USAGE = "sweep name=v1,v2 [name=a..b] [options] [-- fixed args]"
STYLE_FLAGS = {"--eq": "--name=value", "--hydra": "name=value"}
VALUED = ("--zip", "--table", "--repeat", "--style", "--parallel", "--pack")


def options(words: "list[str]", allowed: "tuple[str, ...]", cmd: str) -> "tuple[dict, list[str]]":
    """Options ``--opt value`` / ``--opt=value`` (``--zip`` repeats) and the other words."""
    found: dict = {"--zip": []}
    rest = []
    i = 0
    while i < len(words):
        w = words[i]
        name, eq, val = w.partition("=")
        if name in allowed and name in VALUED + ("--tasks", "--time", "--mem"):
            if not eq:
                if i + 1 >= len(words):
                    raise UsageError(f"{name} needs a value")
                i, val = i + 1, words[i + 1]
            if name == "--zip":
                found[name].append(val)
            elif name in found:
                raise UsageError(f"{name} is given twice")
            else:
                found[name] = val
        elif w in allowed:
            found[w] = True
        elif w.startswith("-"):
            raise UsageError(f"unknown option {w} (see: grunt help {cmd})")
        else:
            rest.append(w)
        i += 1
    return found, rest


def _int(text: "str | None", what: str) -> "int | None":
    if text is None:
        return None
    if not str(text).isdigit() or int(text) < 1:
        raise UsageError(f"{what} takes a number of 1 or more, not {text!r}")
    return int(text)


def parse_sweep(argv: "list[str]") -> Namespace:
    words, fixed = list(argv), []   # type: list[str], list[str]
    if "--" in words:
        cut = words.index("--")
        words, fixed = words[:cut], words[cut + 1:]
        # the message may also come last, after the fixed args: sweep a=1,2 -- --epochs 3 -m 'why'
        n = message_words(fixed)
        if n:
            words, fixed = words + fixed[-n:], fixed[:-n]
    words, msg = split_message(words, USAGE)
    allowed = (*VALUED, "-n", "--dry-run", "--yes", *STYLE_FLAGS)
    opts, rest = options(words, allowed, "sweep")
    params = []
    for w in rest:
        if not SW.is_param(w):
            raise UsageError(f"not a parameter: {w!r} (name=v1,v2 or name=a..b; "
                             "program arguments for every run go after --)")
        params.append(tuple(w.split("=", 1)))
    styles = [STYLE_FLAGS[f] for f in STYLE_FLAGS if opts.get(f)] + (
        [opts["--style"]] if "--style" in opts else [])
    if len(styles) > 1:
        raise UsageError("give one style: --style, --eq or --hydra")
    if not params and "--table" not in opts:
        raise UsageError(f"no parameters: grunt {USAGE} -m 'why'")
    return Namespace(params=params, zips=opts["--zip"], table=opts.get("--table"),
                     repeat=_int(opts.get("--repeat", "1"), "--repeat"),
                     style=styles[0] if styles else None,
                     parallel=_int(opts.get("--parallel"), "--parallel"),
                     pack=_int(opts.get("--pack"), "--pack"), fixed=fixed,
                     dry_run=bool(opts.get("-n") or opts.get("--dry-run")),
                     yes=bool(opts.get("--yes")), message=msg)


def build(a: Namespace, projdir: str) -> dict:
    """job.sweep's content for the parsed command line (the style: flag, grunter.py, default)."""
    settings = SW.grunter_settings(projdir)
    style = a.style or settings.get("sweep_style") or GS.STYLES[0]
    names, runs = SW.expand(a.params, a.zips, a.table, a.repeat)
    return SW.document(names, runs, str(style), a.fixed, a.parallel, a.pack)


def dry_run(doc: dict, projdir: str) -> None:
    """Every run with its arguments, the count and the resources asked for."""
    for run in doc["runs"]:
        say(f"{run['task']:>5}  {GS.label(run)}  ->  {shlex.join(run['args'])}")
    n = len(doc["runs"])
    settings = SW.grunter_settings(projdir)
    time_limit = settings.get("time")
    asked = [f"{k} {settings[k]}" for k in ("memory", "cpus") if settings.get(k)]
    line = f"{n} run{'s' * (n != 1)}"
    if time_limit:
        total = SW.scale_time(str(time_limit), f"{n}x")
        line += f", each asking time {time_limit}: {n} x {time_limit} = {total} in all"
    if asked:
        line += f" ({', '.join(asked)} each)"
    if doc.get("parallel"):
        line += f", at most {doc['parallel']} at once"
    if doc.get("pack"):
        line += f", {doc['pack']} runs per array task on Slurm"
    say(line + "; nothing submitted (dry run)")


def confirm(n: int, yes: bool, what: str = "sweep") -> None:
    """Above CONFIRM_ABOVE runs: --yes, or a yes at the terminal."""
    if n <= SW.CONFIRM_ABOVE or yes:
        return
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError(f"this {what} has {n} runs (more than {SW.CONFIRM_ABOVE}): "
                         "add --yes to submit it, or -n to see them")
    sys.stderr.write(f"submit {n} runs? [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise GruntError("not submitted")


def sweep(a: Namespace) -> int:
    projdir = find_projdir(os.getcwd())
    doc = build(a, projdir)
    grunter = P.read_text(os.path.join(projdir, "grunter.py"))
    if grunter is not None and "gruntlib" not in grunter:
        raise GruntError("grunter.py does not use gruntlib's runner, which runs a sweep's runs "
                         "(a self-contained grunter would run the job once): start from "
                         "grunt init --force, or grunter_example.py")
    if a.dry_run:
        dry_run(doc, projdir)
        return 0
    confirm(len(doc["runs"]), a.yes)
    return submit_here(a.fixed, a.message, {P.SWEEP: SW.dumps(doc)},
                       lambda jid: f"{jid}: {len(doc['runs'])} runs ({jid}_0 .. {jid}_{len(doc['runs']) - 1})")


RERUN_FLAGS = {"--failed": ("Failed",), "--timeout": ("Timeout",), "--oom": ("OutOfMemory",)}
RERUN_OPTIONS = (*RERUN_FLAGS, "--tasks", "--time", "--mem", "-n", "--dry-run", "--yes")


def rerun_options(words: "list[str]") -> "tuple[dict, list[str]]":
    """resubmit's own options, leading the words (up to the first other word or ``--``)."""
    i = 0
    while i < len(words) and words[i].partition("=")[0] in RERUN_OPTIONS:
        i += 1 if "=" in words[i] or words[i] in RERUN_FLAGS or words[i] in (
            "-n", "--dry-run", "--yes") else 2
    opts, _ = options(words[:i], RERUN_OPTIONS, "resubmit")
    rest = words[i:]
    return opts, rest[1:] if rest[:1] == ["--"] else rest


def _picked(job, opts: dict) -> "list[int] | None":
    """The tasks to run again (None: the whole job)."""
    states = [s for f, ss in RERUN_FLAGS.items() if opts.get(f) for s in ss]
    if not states and "--tasks" not in opts and job.task is None:
        return None
    have = [t.index for t in job.tasks]
    if job.task is not None:
        picked = [job.task]
    elif "--tasks" in opts:
        picked = [int(x) for x in SW.values("--tasks", opts["--tasks"]) if x.isdigit()]
        wrong = [t for t in picked if t not in have]
        if wrong or not picked:
            raise UsageError(f"{job.id} has no task {wrong[0] if wrong else opts['--tasks']} "
                             f"(tasks: {', '.join(map(str, have)) or 'none'})")
    else:
        picked = [t.index for t in job.tasks if t.status in states] if job.tasks else (
            [None] if job.status in states else [])
    if states:
        picked = [t for t in picked if t is None or next(
            x.status for x in job.tasks if x.index == t) in states]
    if not picked:
        raise GruntError(f"nothing to run again: no task of {job.id} is "
                         f"{' or '.join(states) or 'selected'} ({job.counts() if job.tasks else job.status})")
    return picked


def _limit(job, name: str, flag: str) -> "str | None":
    """The parent's setting ``name`` as it ran: job.resources, else its job.sbatch."""
    for line in (P.read_text(os.path.join(job.path, P.RESOURCES)) or "").splitlines():
        if line.startswith(name + " "):
            return line.split(" ", 1)[1].strip()
    for line in (P.read_text(os.path.join(job.path, P.SBATCH)) or "").splitlines():
        if line.startswith(f"#SBATCH {flag}="):
            return line.split("=", 1)[1].strip()
    return None


def rerun_files(job, opts: dict, args: "list[str]", projdir: str) -> "tuple[dict[str, str], list[str]]":
    """(job files, args) of a resubmit of ``job`` with these options."""
    files = {}
    resources = {}
    for line in (P.read_text(os.path.join(job.path, P.RESOURCES)) or "").splitlines():
        name, _, value = line.partition(" ")
        if name != "array":
            resources[name] = value
    settings = SW.grunter_settings(projdir)
    for opt, name, flag, scale in (("--time", "time", "--time", SW.scale_time),
                                   ("--mem", "memory", "--mem", SW.scale_mem)):
        if opt in opts:
            base = _limit(job, name, flag) or (str(settings[name]) if settings.get(name) else None)
            resources[name] = scale(base, opts[opt])
    picked = _picked(job, opts)
    text = P.read_text(os.path.join(job.path, P.SWEEP))
    if text is not None:
        doc = json.loads(text)
        runs = [r for r in doc["runs"] if picked is None or r["task"] in picked]
        fixed = args or doc.get("fixed", [])
        doc = SW.document(doc["params"], [(r["values"], r.get("repeat", 0)) for r in runs],
                          doc["style"], fixed, doc.get("parallel"), doc.get("pack"))
        for new, old in zip(doc["runs"], runs):
            new["from"] = old["task"]
        files[P.SWEEP] = SW.dumps(doc)
        args = fixed
    elif picked is not None and picked != [None]:
        resources["array"] = ",".join(map(str, picked))
    if resources:
        files[P.RESOURCES] = "".join(f"{k} {v}\n" for k, v in resources.items())
    return files, args


def parse_resubmit(argv: "list[str]") -> Namespace:
    if not argv or argv[0].startswith("-"):
        raise UsageError("which job? grunt resubmit <jobid> [--failed|--timeout|--oom|--tasks 3,5..7] "
                         "[--time 2x] [--mem 2x] [args...] -m 'why'")
    words, msg = split_message(argv[1:], "resubmit <jobid> [args...]")
    opts, args = rerun_options(words)
    return Namespace(job=argv[0], args=args, message=msg, opts=opts)


def resubmit(a: Namespace) -> int:
    with Project.here() as pr:
        pr.sync()
        parent = pr.one(a.job, "resubmit")
        files, args = rerun_files(parent, a.opts, a.args, pr.projdir) \
            if a.opts or parent.task is not None or parent.is_sweep else ({}, a.args)
        runs = len(json.loads(files[P.SWEEP])["runs"]) if P.SWEEP in files else 1
        if a.opts.get("-n") or a.opts.get("--dry-run"):
            for name, text in sorted(files.items()):
                say(f"--- {name} ---")
                sys.stdout.write(text)
            say(f"{runs} run(s) from {parent.id}; nothing submitted (dry run)")
            return 0
        confirm(runs, bool(a.opts.get("--yes")), "resubmit")
        say(S.resubmit(pr, parent, args, a.message, files))
    return 0
