"""The error raised when a model cannot be loaded; lives in ``pipelines.errors``, shared by both."""

from pipelines.errors import ModelUnavailableError

__all__ = ["ModelUnavailableError"]
