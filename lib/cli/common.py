"""What every command family of the command line shares: printing, parsing, the
project to work on."""
from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Iterator

from ..client.project import Project
from ..client.shared import check_user, open_project
from ..errors import UsageError


def say(msg: str) -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(f"grunt: warning: {msg}", file=sys.stderr, flush=True)


class Parser(argparse.ArgumentParser):
    """argparse for one command: its errors are one line and exit code 2."""

    def __init__(self, cmd: str):
        super().__init__(prog=f"grunt {cmd}", add_help=False, allow_abbrev=False)

    def error(self, message: str):  # one line, exit 2, no usage dump
        raise UsageError(f"{message} (see: grunt help {self.prog.split()[-1]})")


def user(text: str) -> str:
    """``--user <owner>``: argparse type."""
    return check_user(text)


def project(a: argparse.Namespace, share: bool = True, reading: bool = False) -> Project:
    """The project to work on: the checkout's own, or ``--user``'s read-only copy.

    ``reading``: the command only reads, so when the copy cannot be refreshed
    it goes on with what was pulled before (and says so).
    """
    pr = open_project(getattr(a, "user", None), share=share)
    pr.reading = reading
    return pr


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    yield
