"""Which git subcommands and options the runtime code uses, read from its source.

Every git call in lib/ goes through ``git(...)``, ``out(...)``, ``ok(...)``,
``commit(...)``/``init(...)`` of lib/git.py, ``Remote.git(...)``, or an argv list
starting with ``"git"``.  The literal arguments of those calls are the
subcommand (after any ``-c name=value``) and its options.
"""
from __future__ import annotations

import ast
import os

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIME = ("grunt", "grund", "lib", "grunter_example.py")
_CALLS = {"git", "out", "ok"}


def _literal(node: ast.AST) -> str | None:
    """A string constant, or the constant start of an f-string (``--author=``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    return None


def _words(args: list[ast.AST]) -> tuple[str, list[str]] | None:
    words: list[str | None] = []
    for a in args:  # *(["--bare"] if bare else []): the literals inside count
        words += ([_literal(n) for n in ast.walk(a) if _literal(n) is not None]
                  if isinstance(a, ast.Starred) else [_literal(a)])
    i = 0
    while i < len(words) and words[i] == "-c":
        i += 2
    if i >= len(words) or not words[i] or words[i].startswith("-"):
        return None
    sub = words[i]
    opts = sorted({w.split("=", 1)[0] + ("=" if "=" in w else "")
                   for w in words[i + 1:] if w and w.startswith("-") and w != "--"})
    return sub, opts


def _files() -> list[str]:
    out = []
    for name in RUNTIME:
        path = os.path.join(TOP, name)
        if os.path.isdir(path):
            for d, dirs, files in os.walk(path):
                dirs[:] = sorted(x for x in dirs if x != "__pycache__")
                out += [os.path.join(d, f) for f in sorted(files) if f.endswith(".py")]
        else:
            out.append(path)
    return out


def used() -> dict[str, set[str]]:
    """{subcommand: {options}} of every git call in the runtime code."""
    found: dict[str, set[str]] = {}
    for path in _files():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            got = None
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                if name in _CALLS:
                    got = _words(node.args)
            elif isinstance(node, ast.List) and node.elts and _literal(node.elts[0]) == "git":
                got = _words(node.elts[1:])
            if got:
                found.setdefault(got[0], set()).update(got[1])
    return found


if __name__ == "__main__":
    for sub, opts in sorted(used().items()):
        print(f"| `{sub}` | {' '.join(f'`{o}`' for o in sorted(opts))} |")
