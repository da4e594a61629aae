"""The error raised when a named model cannot be loaded, saying why and how to get it."""

from __future__ import annotations


class ModelUnavailableError(RuntimeError):
    """A named model could not be had: not on disk, not in the cache, hub unreachable.

    The message names the model, says why, and how to obtain it (a pip package, a hub
    id on a machine with network, or a local path). ``model``, ``reason`` and
    ``remedy`` hold those parts for callers that word their own message.
    """

    def __init__(self, model: str, reason: str, remedy: str = "") -> None:
        self.model = model
        self.reason = reason
        self.remedy = remedy
        message = f"{model} could not be loaded: {reason}."
        super().__init__(f"{message} {remedy}".strip())
