"""Errors of the env server clients (no dependency beyond the standard library, so runners can catch them
without the ``serve`` extra installed)."""

from __future__ import annotations


class RemoteEnvError(RuntimeError):
    """Something went wrong talking to a prgym env server."""


class SessionLostError(RemoteEnvError, ConnectionError):
    """The server cannot go on with this session (connection lost, refused, or server full): the episode in
    progress is lost; running it again on this or another server is safe."""


class ServerRejectedError(RemoteEnvError):
    """The server answered with an error (bad token, unknown task, invalid action shape): retrying will not help."""
