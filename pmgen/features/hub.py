"""Whether the Hugging Face hub may be used; lives in ``pipelines.hub``, shared by both layers."""

from pipelines.hub import hub_endpoint, hub_offline, hub_reachable, offline_requested

__all__ = ["hub_endpoint", "hub_offline", "hub_reachable", "offline_requested"]
