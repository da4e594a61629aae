"""Whether the Hugging Face hub may be used: the offline switches, then one quick probe."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

_TRUE = {"1", "on", "yes", "true"}
_probe_result: bool | None = None


def offline_requested() -> bool:
    """True when HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE asks for no network."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_reachable(timeout: float = 3.0) -> bool:
    """One HEAD request to the hub endpoint (honouring proxy variables), remembered per process.

    huggingface_hub retries an unreachable host for over a minute; asking once with a
    short timeout lets callers go straight to local copies instead.
    """
    global _probe_result
    if _probe_result is None:
        request = urllib.request.Request(hub_endpoint(), method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                pass
            _probe_result = True
        except urllib.error.HTTPError:
            _probe_result = True  # the server answered, even if with an error status
        except (urllib.error.URLError, OSError, ValueError):
            _probe_result = False
    return _probe_result


def hub_offline() -> bool:
    """True when the hub must not or cannot be used."""
    return offline_requested() or not hub_reachable()


def looks_like_local_path(name: str) -> bool:
    """Whether ``name`` is written as a filesystem path rather than a hub id (``owner/model``)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def offline_reason() -> str:
    """Why the hub is not used, for error messages: the switch or the failed probe."""
    return "HF_HUB_OFFLINE is set" if offline_requested() else "the Hugging Face hub is unreachable"


def in_hf_cache(repo_id: str, filename: str) -> bool:
    """Whether ``filename`` of hub repo ``repo_id`` is in the local HF cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id, filename)
    return isinstance(found, str) and Path(found).is_file()
