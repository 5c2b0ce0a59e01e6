"""The base of every user-facing error.

A command that raises an ``EvenetError`` ends with one line, ``evenet: error: <message>``, and
exit status 2 (evenet/cli.py); the message names the file or setting and what to fix. Each
stage keeps its own subclass (ConfigError, ManifestError, ...), which also derives from the
built-in error that fits (ValueError, RuntimeError), so callers may catch either.
"""

from __future__ import annotations


class EvenetError(Exception):
    """A problem the user can fix (bad input, configuration, file); never a bug."""


class UsageError(EvenetError, ValueError):
    """A command-line argument is unusable; the message says what to fix."""
