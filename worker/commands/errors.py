"""The two ways a command ends early: a user error, and Ctrl-C while following an experiment."""

from __future__ import annotations


class CliError(Exception):
    """A user error: printed without a traceback, exit status 2."""


class FollowInterrupted(KeyboardInterrupt):
    """Ctrl-C while following a queued experiment (which keeps running)."""

    def __init__(self, exp_id: str) -> None:
        super().__init__(exp_id)
        self.exp_id = exp_id
