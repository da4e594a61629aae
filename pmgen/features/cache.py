"""Per-item feature tensors on disk: one safetensors file per modality and encoder."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    import torch

_KEY_PREFIX = "item/"
_FINGERPRINTS = "pmgen.fingerprints"
_FORMAT = "pmgen.item-features.v1"


def tensor_key(item_id: str) -> str:
    """A safetensors key for any item id: percent-encoded, prefixed (never '__metadata__')."""
    return _KEY_PREFIX + quote(item_id, safe="")


def item_id_from_key(key: str) -> str:
    if not key.startswith(_KEY_PREFIX):
        raise ValueError(f"not an item feature key: {key!r}")
    return unquote(key[len(_KEY_PREFIX) :])


def _safe_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "x"


def _standalone(tensor: torch.Tensor) -> torch.Tensor:
    """A float32 CPU tensor owning exactly its memory (safetensors refuses shared storage)."""
    import torch

    t = tensor.detach().to("cpu", torch.float32).contiguous()
    owns = t.storage_offset() == 0 and t.untyped_storage().nbytes() == t.numel() * t.element_size()
    return t if owns else t.clone()


class FeatureCache:
    """Item features computed once, reused: ``{modality}__{encoder}.safetensors`` in ``cache_dir``.

    Each file maps item id -> one float32 tensor (sentences or words x dim). Next to
    every tensor a fingerprint of its input (the sentences, the image files and the
    describer) is kept in the file's metadata: an entry whose input changed is not
    returned, so it is computed again. Files are written whole to a temporary file
    and moved into place (os.replace), so a crash never leaves a half-written cache.
    """

    def __init__(self, cache_dir: str | Path, encoder_name: str) -> None:
        self.cache_dir = Path(cache_dir)
        self.encoder_name = encoder_name
        self._loaded: dict[str, tuple[dict[str, torch.Tensor], dict[str, str]]] = {}

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.cache_dir)!r}, {self.encoder_name!r})"

    def path(self, modality: str) -> Path:
        """e.g. ``text__all-MiniLM-L6-v2.safetensors``, ``image__imagenet__all-MiniLM-L6-v2...``."""
        parts = [_safe_part(p) for p in modality.split("__")]
        return self.cache_dir / f"{'__'.join(parts)}__{_safe_part(self.encoder_name)}.safetensors"

    def _entries(self, modality: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        if modality not in self._loaded:
            self._loaded[modality] = self._read(self.path(modality))
        return self._loaded[modality]

    @staticmethod
    def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        if not path.is_file():
            return {}, {}
        from safetensors import safe_open

        tensors: dict[str, torch.Tensor] = {}
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                fingerprints = json.loads(metadata.get(_FINGERPRINTS, "{}"))
                for key in handle.keys():  # noqa: SIM118 - a safetensors handle, not a dict
                    tensors[item_id_from_key(key)] = handle.get_tensor(key)
        except Exception as exc:  # noqa: BLE001 - a damaged cache is rebuilt, not fatal
            import logging

            logging.getLogger(__name__).warning(
                "Ignoring unreadable feature cache %s (%s); its features will be recomputed.",
                path,
                exc,
            )
            return {}, {}
        return tensors, {k: v for k, v in fingerprints.items() if k in tensors}

    def get(
        self, modality: str, fingerprints: Mapping[str, str], dim: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Cached tensors for the ids in ``fingerprints`` whose stored fingerprint matches.

        With ``dim``, tensors of another width (a different encoder) are ignored.
        """
        tensors, stored = self._entries(modality)
        found = {}
        for item_id, fingerprint in fingerprints.items():
            tensor = tensors.get(item_id)
            if tensor is None or stored.get(item_id) != fingerprint:
                continue
            if dim is not None and (tensor.dim() != 2 or tensor.shape[-1] != dim):
                continue
            found[item_id] = tensor
        return found

    def put(
        self,
        modality: str,
        tensors: Mapping[str, torch.Tensor],
        fingerprints: Mapping[str, str],
        write: bool = True,
    ) -> None:
        """Add or replace entries (in memory; on disk too unless ``write=False``)."""
        stored_tensors, stored_fps = self._entries(modality)
        for item_id, tensor in tensors.items():
            if item_id not in fingerprints:
                raise KeyError(f"no fingerprint given for item {item_id!r}")
            stored_tensors[item_id] = _standalone(tensor)
            stored_fps[item_id] = fingerprints[item_id]
        if write:
            self.flush(modality)

    def flush(self, modality: str) -> Path | None:
        """Write the modality's entries to disk atomically; returns the path (None if empty)."""
        if modality not in self._loaded:
            return None
        tensors, fingerprints = self._loaded[modality]
        if not tensors:
            return None
        from safetensors.torch import save_file

        path = self.path(modality)
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {
            "format": _FORMAT,
            "encoder": self.encoder_name,
            "modality": modality,
            _FINGERPRINTS: json.dumps(fingerprints, sort_keys=True),
        }
        payload = {tensor_key(item_id): t for item_id, t in tensors.items()}
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            save_file(payload, tmp, metadata=metadata)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def item_ids(self, modality: str) -> list[str]:
        return list(self._entries(modality)[0])

    def forget(self, modality: str, item_ids: Iterable[str] | None = None) -> None:
        """Drop entries (all when ``item_ids`` is None) and rewrite or remove the file."""
        tensors, fingerprints = self._entries(modality)
        for item_id in list(tensors) if item_ids is None else list(item_ids):
            tensors.pop(item_id, None)
            fingerprints.pop(item_id, None)
        if tensors:
            self.flush(modality)
        else:
            self.path(modality).unlink(missing_ok=True)
