"""grunt: a git-based run tool for compute clusters (standard library only)."""

__version__ = "0.1.0"
