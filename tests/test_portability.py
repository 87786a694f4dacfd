"""What the runtime code needs from the machine: Python 3.8, git 2.17, bash for completion."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

import gitcalls
from fixture_core import ROOT
from lib import cli


def cluster_side() -> list[str]:
    """The files that run on the cluster: grund and every lib module it imports (its
    ``newproj``/``share`` too), gruntlib (inside jobs and grunters), grunter_example.py."""
    import test_layout as L
    seen, todo = set(), ["lib.server.grund", "lib.server.share", "lib",
                         *(m for m in L.MODULES if m.startswith("lib.gruntlib"))]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += L._lib_imports(m)
    return sorted(L.MODULES[m] for m in seen) + [os.path.join(ROOT, "grund"),
                                                 os.path.join(ROOT, "grunter_example.py")]


def _vermin(target: str, paths: list[str], *flags: str) -> None:
    vermin = shutil.which("vermin")
    if vermin is None:
        pytest.skip("vermin is not installed (tests/install-deps.sh installs it)")
    p = subprocess.run([vermin, "-q", "--no-tips", "--violations", *flags, f"-t={target}-", *paths],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_cluster_side_works_on_python_3_6():
    paths = cluster_side()
    assert any(p.endswith("lib/server/grund.py") for p in paths)
    assert any(p.endswith("lib/gruntlib/slurm.py") for p in paths)
    # without `from __future__ import annotations` (3.7), annotations are evaluated
    _vermin("3.6", paths, "--eval-annotations")


def test_the_laptop_side_works_on_python_3_8():
    _vermin("3.8", [os.path.join(ROOT, p) for p in gitcalls.RUNTIME])


def _readme_git_table() -> dict[str, str]:
    """The README's table of git commands: {subcommand: the options cell}."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split("### git commands used", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"^\| `([a-z-]+)` \|(.*)\|$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_readme_lists_every_git_command_and_option_used():
    table = _readme_git_table()
    used = gitcalls.used()
    assert set(used) >= {"fetch", "push", "commit", "log", "update-ref", "hash-object"}
    missing = [f"{sub} {' '.join(sorted(opts - set(re.findall(r'`([^`]+)`', table.get(sub, ''))))) }"
               for sub, opts in sorted(used.items())
               if sub not in table or not opts <= set(re.findall(r"`([^`]+)`", table[sub]))]
    assert not missing, f"add to the README's git table: {missing}"


BASH = shutil.which("bash")


def _complete(words: list[str], cwd: str, path: str) -> list[str]:
    script = (f"source {ROOT}/grunt.bash-completion\n"
              f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
              "_grunt; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    p = subprocess.run([BASH, "--norc", "--noprofile", "-c", script], cwd=cwd, capture_output=True,
                       text=True, env=dict(os.environ, PATH=path))
    assert p.returncode == 0, p.stderr
    return [w for w in p.stdout.splitlines() if w]


@pytest.mark.skipif(BASH is None, reason="no bash")
def test_bash_completion_of_commands_and_job_ids(core, core_proj):
    bindir = os.path.join(core.tmp, "bin")
    os.makedirs(bindir)
    os.symlink(os.path.join(ROOT, "grunt"), os.path.join(bindir, "grunt"))
    path = f"{bindir}:{os.environ['PATH']}"
    every = set(_complete(["grunt", ""], core_proj, path)) - {"--version"}
    assert every == set(cli.HELP) | set(cli.ALIASES)
    assert _complete(["grunt", "ou"], core_proj, path) == ["out"]
    a, b = core.submit(m="x", cwd=core_proj), core.submit(m="y", cwd=core_proj)
    # ids come from the local jobs copy: the server is not asked
    os.rename(core.bare("p"), core.bare("p") + ".away")
    assert sorted(_complete(["grunt", "cancel", ""], core_proj, path)) == [a, b]
    assert _complete(["grunt", "out", "-"], core_proj, path) == ["-f", "--attempt"]
    assert _complete(["grunt", "submit", "--a"], core_proj, path) == ["--after"]
    assert sorted(_complete(["grunt", "submit", "--after", ""], core_proj, path)) == [a, b]
    assert sorted(_complete(["grunt", "jobs", "a"], core_proj, path)) == ["active", "all", "archive"]
    assert _complete(["grunt", "cancel", ""], core.work, path) == []   # not in a project
