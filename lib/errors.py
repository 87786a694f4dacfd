"""The one error root: a GruntError is a sentence for the user, not a bug."""
from __future__ import annotations


class GruntError(Exception):
    """An error to report as ``grunt: error: <message>`` with exit code 1."""

    exit_code = 1


class UsageError(GruntError):
    """Bad command line: exit code 2."""

    exit_code = 2
