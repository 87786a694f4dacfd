"""The one error root: a GruntError is a sentence for the user, not a bug."""

class GruntError(Exception):
    """An error to report as ``grunt: error: <message>`` with exit code 1."""

    exit_code = 1
    label = "error"


class UsageError(GruntError):
    """Bad command line: exit code 2."""

    exit_code = 2


class OutcomeUnknown(GruntError):
    """A change was sent but the server's answer was lost: it may or may not have
    arrived.  Said as unknown (``grunt: outcome unknown: ...``), never as failed;
    exit code 3.  The next command that reaches the server settles it."""

    exit_code = 3
    label = "outcome unknown"
