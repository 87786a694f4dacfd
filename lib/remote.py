"""Remote specs and the transport to the server (local path transport only for now)."""
from __future__ import annotations

import os
import subprocess

from . import git as G
from .errors import GruntError


class PushRejected(GruntError):
    """The server moved on: fetch, rebuild and push again."""


class Remote:
    def __init__(self, spec: str, server: str):
        self.spec = spec
        self.server = server
        self.is_local = spec.startswith("/")
        if not self.is_local:
            raise GruntError(f"ssh remotes are not supported yet: {spec}")

    def url(self, relpath: str) -> str:
        return os.path.join(self.spec, relpath)

    def git_env(self) -> dict[str, str]:
        return {}

    def git(self, *args: str, cwd: str | None = None, proj: str | None = None,
            input: bytes | None = None) -> bytes:
        try:
            return G.git(*args, cwd=cwd, input=input)
        except G.GitError as e:
            # "cannot lock ref": another push updated the branch between our
            # push's check and its ref update (receive-pack's compare-and-swap)
            if any(s in e.stderr for s in ("[rejected]", "non-fast-forward", "fetch first",
                                           "cannot lock ref")):
                raise PushRejected(f"push to {self.server} rejected: the server moved on") from None
            if "does not appear to be a git repository" in e.stderr and proj:
                raise GruntError(f"project {proj} is missing on {self.server}: "
                                 f"create it there first: grunt newproj {proj}") from None
            raise GruntError(f"{self.server}: {e}") from None

    def run(self, argv: list[str], input: bytes | None = None, check: bool = True,
            timeout: float | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ, HOME=self.spec)
        return subprocess.run(argv, cwd=self.spec, input=input, capture_output=True,
                              env=env, check=check, timeout=timeout)

    def close(self) -> None:
        pass

    def __enter__(self) -> "Remote":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
