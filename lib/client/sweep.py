"""A sweep's runs from the command line: parameter values, --zip, --table, --repeat.

``lr=0.1,0.2 seed=1..5`` crosses the parameters (the first one varies
slowest); a value list is CSV (``name='"a,b",c'`` for a comma inside a
value); ``a..b`` and ``a..b:step`` are inclusive integer ranges.  ``--zip
lr,seed`` pairs those lists instead; a ``--table`` is one run per row, its
header naming the parameters, crossed with the other parameters.
"""
from __future__ import annotations

import ast
import csv
import io
import itertools
import json
import os
import re

from ..errors import UsageError
from ..gruntlib import sweep as SW

NAME_RE = re.compile(r"^[A-Za-z_+~][A-Za-z0-9_.+-]*$")
RANGE_RE = re.compile(r"^(-?\d+)\.\.(-?\d+)(?::(-?\d+))?$")
CONFIRM_ABOVE = 1000      # runs: a bigger sweep needs --yes


def is_param(word: str) -> bool:
    return "=" in word and not word.startswith("-")


def values(name: str, text: str) -> "list[str]":
    """The values of ``name=text``: CSV items, integer ranges expanded."""
    if "\n" in text or "\r" in text:
        raise UsageError(f"values of {name} contain a newline (job.args holds one per line)")
    try:
        items = next(csv.reader([text])) if text else []
    except csv.Error as e:
        raise UsageError(f"cannot read the values of {name}: {e}") from None
    out = []
    for item in items:
        m = RANGE_RE.match(item)
        if m:
            a, b, step = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
            if step <= 0:
                raise UsageError(f"range {item} of {name}: the step must be positive")
            if b < a:
                raise UsageError(f"range {item} of {name} is descending (write {b}..{a})")
            if (b - a) // step > 100000:
                raise UsageError(f"range {item} of {name} is too large")
            out.extend(str(n) for n in range(a, b + 1, step))
        elif item == "":
            raise UsageError(f"an empty value in {name}={text} (quote it as \"\" in a table)")
        else:
            out.append(item)
    if not out:
        raise UsageError(f"no values for {name}: give e.g. {name}=1,2,3 or {name}=1..5")
    return out


def table(path: str) -> "tuple[list[str], list[list[str]]]":
    """(names, rows) of a .tsv or .csv file: the header names the parameters."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"cannot read table {path}: {e.strerror}") from None
    delim = "," if path.endswith(".csv") else "\t"
    lines = [r for r in csv.reader(io.StringIO(text), delimiter=delim)]
    if not lines or not any(lines[0]):
        raise UsageError(f"table {path} is empty: its first line names the parameters")
    names, rows = lines[0], lines[1:]
    for n in names:
        check_name(n)
    if len(set(names)) != len(names):
        raise UsageError(f"table {path} names a parameter twice")
    for i, row in enumerate(rows, 2):
        if not row or not any(x.strip() for x in row):
            raise UsageError(f"table {path}: line {i} is empty")
        if len(row) != len(names):
            raise UsageError(f"table {path}: line {i} has {len(row)} fields, the header {len(names)}")
        if any("\n" in x or "\r" in x for x in row):
            raise UsageError(f"table {path}: line {i} has a value with a newline")
    if not rows:
        raise UsageError(f"table {path} has no runs below its header")
    return names, rows


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise UsageError(f"not a parameter name: {name!r} (letters, digits, _ . -)")


def expand(params: "list[tuple[str, str]]", zips: "list[str]", table_path: "str | None",
           repeat: int) -> "tuple[list[str], list[tuple[dict[str, str], int]]]":
    """(parameter names, [(values, repeat index)]) of a sweep, in task order."""
    names, groups = [], []   # a group: (names, [tuple of values])
    lists = {}
    for name, text in params:
        check_name(name)
        if name in lists:
            raise UsageError(f"parameter {name} is named twice")
        lists[name] = values(name, text)
        names.append(name)
    zipped = {}
    for z in zips:
        group = [n.strip() for n in z.split(",") if n.strip()]
        for n in group:
            if n not in lists:
                raise UsageError(f"--zip {z}: {n} is not a parameter of this sweep")
            if n in zipped:
                raise UsageError(f"--zip: {n} is zipped twice")
            zipped[n] = group
        lengths = {len(lists[n]) for n in group}
        if len(lengths) > 1:
            raise UsageError(f"--zip {z}: the lists have different lengths "
                             f"({', '.join(f'{n}: {len(lists[n])}' for n in group)})")
    for n in names:
        if n not in zipped:
            groups.append(([n], [(v,) for v in lists[n]]))
        elif zipped[n][0] == n:
            groups.append((zipped[n], list(zip(*(lists[m] for m in zipped[n])))))
    if table_path:
        tnames, rows = table(table_path)
        clash = [n for n in tnames if n in lists]
        if clash:
            raise UsageError(f"parameter {clash[0]} is named twice (in the table too)")
        groups.append((tnames, [tuple(r) for r in rows]))
        names += tnames
    if repeat < 1:
        raise UsageError("--repeat takes a number of 1 or more")
    runs = []
    for combo in itertools.product(*(rows for _, rows in groups)):
        vals = {}
        for (gnames, _), row in zip(groups, combo):
            vals.update(zip(gnames, row))
        runs.extend((dict((n, vals[n]) for n in names), r) for r in range(repeat))
    return names, runs


def document(names: "list[str]", runs: "list[tuple[dict[str, str], int]]", style: str,
             fixed: "list[str]", parallel: "int | None", pack: "int | None" = None) -> dict:
    """job.sweep's content."""
    if style not in SW.STYLES:
        raise UsageError(f"unknown style {style!r} (one of: {', '.join(SW.STYLES)})")
    doc = {"version": SW.VERSION, "params": names, "style": style, "fixed": list(fixed),
           "parallel": parallel, "pack": pack, "runs": []}
    for task, (vals, rep) in enumerate(runs):
        args = [a for n, v in vals.items() for a in SW.value_args(style, n, v)] + list(fixed)
        doc["runs"].append({"task": task, "values": vals, "repeat": rep, "args": args})
    return SW.check(doc)


def dumps(doc: dict) -> str:
    return json.dumps(doc, indent=None, separators=(",", ":"), ensure_ascii=False) + "\n"


def grunter_settings(projdir: str) -> "dict[str, object]":
    """The literal settings of the project's grunter.py, or {}.

    Its ``SETTINGS = {...}`` (as in grunter_example.py), else the first dict
    literal given to a call (``runner.main({...})``); values that are no
    literals are left out.
    """
    try:
        with open(os.path.join(projdir, "grunter.py"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return {}
    found = None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "SETTINGS" for t in node.targets)):
            found = node.value
            break
        if (found is None and isinstance(node, ast.Call) and node.args
                and isinstance(node.args[0], ast.Dict)):
            found = node.args[0]
    settings = {}
    for k, v in zip(found.keys, found.values) if found is not None else ():
        try:
            settings[ast.literal_eval(k)] = ast.literal_eval(v)
        except ValueError:
            pass
    return settings


TIME_RE = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
MEM_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)B?$", re.I)
FACTOR_RE = re.compile(r"^(\d+(?:\.\d+)?)x$")


def _seconds(text: str) -> int:
    """Slurm's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S."""
    m = TIME_RE.match(text.strip())
    if not m:
        raise UsageError(f"not a time limit: {text!r} (e.g. 90, 4:00:00, 1-00:00:00 or 2x)")
    d, a, b, c = m.groups()
    if d is not None:
        h, mi, s = int(a), int(b or 0), int(c or 0)
        return ((int(d) * 24 + h) * 60 + mi) * 60 + s
    if c is not None:
        return (int(a) * 60 + int(b)) * 60 + int(c)
    return int(a) * 60 + int(b or 0)


def scale_time(base: "str | None", how: str) -> str:
    """``how`` (``2x``, or a time) applied to the time limit ``base``; as D-HH:MM:SS."""
    f = FACTOR_RE.match(how.strip())
    if not f:
        secs = _seconds(how)
    elif base is None:
        raise UsageError(f"--time {how}: the job asked for no time limit to scale; give one, e.g. 4:00:00")
    else:
        secs = int(round(_seconds(base) * float(f.group(1))))
    if secs <= 0:
        raise UsageError(f"--time {how}: the time limit would be zero")
    d, rest = divmod(secs, 86400)
    text = f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    return f"{d}-{text}" if d else text


def scale_mem(base: "str | None", how: str) -> str:
    """``how`` (``2x``, or an amount) applied to the memory ``base``; in M."""
    f = FACTOR_RE.match(how.strip())
    if not f:
        return f"{int(round(_megabytes(how)))}M"
    if base is None:
        raise UsageError(f"--mem {how}: the job asked for no memory to scale; give one, e.g. 16G")
    return f"{int(round(_megabytes(base) * float(f.group(1))))}M"


def _megabytes(text: str) -> float:
    m = MEM_RE.match(str(text).strip())
    if not m:
        raise UsageError(f"not an amount of memory: {text!r} (e.g. 16G, 4000M or 2x)")
    unit = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[m.group(2).upper()]
    return float(m.group(1)) * unit
