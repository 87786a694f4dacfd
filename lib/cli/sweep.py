"""Sweeps: ``grunt sweep`` (many runs, one snapshot, one push) and the options of
``resubmit`` that rerun some runs of a job (--failed, --tasks, --time 2x ...).

``grunt sweep [name=values..] [options] [-- fixed args..] -m 'msg'``: the
words before ``--`` are parameters and options, those after it are given to
every run; ``-m`` comes last, as for submit.
"""
from __future__ import annotations

import os
import shlex
import sys
from argparse import Namespace

from ..client import sweep as SW
from ..client.project import find_projdir
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P, sweep as GS
from .common import say
from .submit import split_message, submit_here

USAGE = "sweep name=v1,v2 [name=a..b] [options] [-- fixed args]"
STYLE_FLAGS = {"--eq": "--name=value", "--hydra": "name=value", "--dashdash": "--name value"}
VALUED = ("--zip", "--table", "--repeat", "--style", "--parallel")


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
    words, msg = split_message(argv, USAGE)
    fixed = []
    if "--" in words:
        cut = words.index("--")
        words, fixed = words[:cut], words[cut + 1:]
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
                     parallel=_int(opts.get("--parallel"), "--parallel"), fixed=fixed,
                     dry_run=bool(opts.get("-n") or opts.get("--dry-run")),
                     yes=bool(opts.get("--yes")), message=msg)


def build(a: Namespace, projdir: str) -> dict:
    """job.sweep's content for the parsed command line (the style: flag, grunter.py, default)."""
    settings = SW.grunter_settings(projdir)
    style = a.style or settings.get("sweep_style") or GS.STYLES[0]
    names, runs = SW.expand(a.params, a.zips, a.table, a.repeat)
    return SW.document(names, runs, str(style), a.fixed, a.parallel)


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
    if a.dry_run:
        dry_run(doc, projdir)
        return 0
    confirm(len(doc["runs"]), a.yes)
    return submit_here(a.fixed, a.message, {P.SWEEP: SW.dumps(doc)},
                       lambda jid: f"{jid}: {len(doc['runs'])} runs ({jid}_0 .. {jid}_{len(doc['runs']) - 1})")
