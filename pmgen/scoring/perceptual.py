"""PMG-Bench's perceptual metrics of candidate images: SSIM and LPIPS to the target and history.

Both metrics compare two images at one fixed evaluation size: each image is made RGB
(:func:`~pmgen.features.image_io.to_rgb`) and resized, aspect ratio not kept, to
``size`` x ``size`` pixels (bicubic; 256 by default), so the whole picture is compared
whatever its shape, and values are comparable across items.

- **SSIM** (higher is more similar, 1 for identical images): scikit-image's
  ``structural_similarity`` on the RGB pixels scaled to [0, 1] (``data_range=1``),
  computed per channel and averaged over the three channels, with its defaults
  (7 x 7 uniform window, K1 = 0.01, K2 = 0.03).
- **LPIPS** (lower is more similar, 0 for identical images), Zhang et al. 2018:
  the image, scaled to [0, 1] and normalized with the ImageNet mean and standard
  deviation, goes through a backbone; at each of its L tapped layers the activations
  ``f`` (C_l, H_l, W_l) are unit-normalized across channels at every position
  (``f / (||f||_2 + 1e-10)``), the squared difference of the two images' normalized
  activations is weighted per channel by the learned non-negative weights ``w_l`` and
  summed over channels, averaged over positions, and the L layers are summed:
  ``d(x, y) = sum_l mean_hw sum_c w_lc (f̂_lchw(x) - f̂_lchw(y))^2``.

"To the target" is the metric between each candidate and the target image; "to the
history" is its mean over the user's history images. Both return one float per
candidate, ready for a table.

The pretrained LPIPS needs two sets of weights: the backbone's ImageNet weights
(torchvision's AlexNet or VGG16, which torchvision downloads into torch hub's cache)
and the LPIPS v0.1 linear weights (shipped inside the PyPI ``lpips`` package).
:meth:`LPIPS.from_pretrained` finds both locally or takes their file paths, and
raises ModelUnavailableError naming the missing file and how to get it.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from pmgen.features.errors import ModelUnavailableError
from pmgen.scoring.image import ImageInput, read_rgb
from pmgen.scoring.text import _evaluating

logger = logging.getLogger(__name__)

DEFAULT_SIZE = 256  # evaluation size: both images are resized to size x size first
NORM_EPS = 1e-10  # added to the channel norm before dividing, as in the LPIPS paper's code
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Per LPIPS backbone name: torchvision's model name, and where its LPIPS layers are tapped,
# the ReLU after each conv stage (AlexNet: relu1..relu5; VGG16: relu1_2, relu2_2, relu3_3,
# relu4_3, relu5_3) as indices into torchvision's ``features``.
BACKBONES: dict[str, tuple[str, tuple[int, ...]]] = {
    "alex": ("alexnet", (1, 4, 7, 9, 11)),
    "vgg": ("vgg16", (3, 8, 15, 22, 29)),
}
LPIPS_VERSION = "v0.1"


def evaluation_pixels(image: ImageInput, size: int = DEFAULT_SIZE) -> np.ndarray:
    """(size, size, 3) float64 RGB in [0, 1]: the image as both metrics compare it."""
    from PIL import Image as PILImage

    if size < 1:
        raise ValueError(f"evaluation size must be >= 1, got {size}")
    rgb = read_rgb(image)
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), PILImage.BICUBIC)
    return np.asarray(rgb, dtype=np.float64) / 255.0


def _mean_against(
    pairwise: Callable[[Sequence[ImageInput], Sequence[ImageInput]], np.ndarray],
    candidates: Sequence[ImageInput],
    references: Sequence[ImageInput],
    what: str,
) -> list[float]:
    """Per candidate, the mean of ``pairwise(candidates, references)`` over the references."""
    if len(references) == 0:
        raise ValueError(f"the metric {what} needs at least one reference image, got none")
    if len(candidates) == 0:
        return []
    return [float(v) for v in np.asarray(pairwise(candidates, references)).mean(axis=1)]


# ---------------------------------------------------------------------------------- SSIM


def ssim(a: ImageInput, b: ImageInput, size: int = DEFAULT_SIZE) -> float:
    """SSIM of two images at ``size`` x ``size``, RGB per channel then averaged (1 = same)."""
    return float(ssim_matrix([a], [b], size)[0, 0])


def ssim_matrix(
    candidates: Sequence[ImageInput], references: Sequence[ImageInput], size: int = DEFAULT_SIZE
) -> np.ndarray:
    """(n, m) SSIM of every candidate with every reference; each image is prepared once."""
    from skimage.metrics import structural_similarity

    cands = [evaluation_pixels(image, size) for image in candidates]
    refs = [evaluation_pixels(image, size) for image in references]
    out = np.zeros((len(cands), len(refs)))
    for i, x in enumerate(cands):
        for j, y in enumerate(refs):
            out[i, j] = structural_similarity(x, y, channel_axis=-1, data_range=1.0)
    return out


def ssim_to_target(
    candidates: Sequence[ImageInput], target: ImageInput, size: int = DEFAULT_SIZE
) -> list[float]:
    """SSIM of each candidate to the target image."""
    return _mean_against(lambda c, r: ssim_matrix(c, r, size), candidates, [target], "SSIM")


def ssim_to_history(
    candidates: Sequence[ImageInput], history: Sequence[ImageInput], size: int = DEFAULT_SIZE
) -> list[float]:
    """Mean SSIM of each candidate to the user's history images."""
    return _mean_against(lambda c, r: ssim_matrix(c, r, size), candidates, history, "SSIM")


# --------------------------------------------------------------------------------- LPIPS


class LPIPS(torch.nn.Module):
    """LPIPS distance over a convolutional backbone's tapped layers (see the module docstring).

    ``features`` is a ``torch.nn.Sequential`` backbone (torchvision's AlexNet or VGG16
    ``features`` for the real metric; anything small for tests), ``taps`` the indices of
    its modules whose outputs are compared, and ``weights`` one non-negative (C_l,)
    vector per tap. Images are compared at ``size`` x ``size``.
    """

    def __init__(
        self,
        features: torch.nn.Sequential,
        taps: Sequence[int],
        weights: Sequence[torch.Tensor],
        size: int = DEFAULT_SIZE,
        batch_size: int = 8,
    ) -> None:
        super().__init__()
        taps = [int(t) for t in taps]
        if not taps or sorted(set(taps)) != taps or taps[0] < 0 or taps[-1] >= len(features):
            raise ValueError(
                f"taps must be increasing indices into the {len(features)} backbone modules, "
                f"got {taps}"
            )
        if len(weights) != len(taps):
            raise ValueError(f"{len(weights)} weight vectors for {len(taps)} tapped layers")
        if size < 1 or batch_size < 1:
            raise ValueError(f"size and batch_size must be >= 1, got {size} and {batch_size}")
        for module in features.modules():
            if hasattr(module, "inplace"):
                module.inplace = False  # a tapped activation must not be overwritten later
        self.features = features[: taps[-1] + 1].eval().requires_grad_(False)
        self.taps = taps
        for layer, w in enumerate(weights):
            w = torch.as_tensor(w, dtype=torch.float32).flatten()
            self.register_buffer(f"weight{layer}", w)
        self.size = size
        self.batch_size = batch_size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    @classmethod
    def from_pretrained(
        cls,
        net: str = "alex",
        backbone_weights: str | Path | None = None,
        linear_weights: str | Path | None = None,
        download: bool = True,
        **kwargs,
    ) -> LPIPS:
        """The published LPIPS (v0.1) over AlexNet (``"alex"``, the paper's default) or VGG16.

        ``backbone_weights``: a torchvision ImageNet state dict file; by default the one
        in torch hub's cache (``torch.hub.get_dir()/checkpoints``), downloaded there by
        torchvision when ``download`` is true and the network allows.
        ``linear_weights``: the LPIPS v0.1 ``{net}.pth`` file; by default the copy inside
        the installed ``lpips`` package. A missing file raises ModelUnavailableError.
        """
        if net not in BACKBONES:
            raise ValueError(f"unknown LPIPS backbone {net!r}: choose one of {sorted(BACKBONES)}")
        taps = BACKBONES[net][1]
        weights = load_linear_weights(_linear_weights_file(net, linear_weights), len(taps))
        features = _pretrained_features(net, backbone_weights, download)
        return cls(features, taps, weights, **kwargs)

    def _pixels(self, images: Sequence[ImageInput]) -> torch.Tensor:
        """(B, 3, size, size) ImageNet-normalized pixels."""
        arrays = np.stack([evaluation_pixels(image, self.size) for image in images])
        x = torch.from_numpy(arrays).float().permute(0, 3, 1, 2).to(self.mean.device)
        return (x - self.mean) / self.std

    def embed(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Channel-unit-normalized activations (B, C_l, H_l, W_l) of the tapped layers.

        ``x``: (B, 3, H, W) pixels already ImageNet-normalized.
        """
        out = []
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self.taps:
                out.append(x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS))
        return out

    def _weights(self) -> list[torch.Tensor]:
        return [getattr(self, f"weight{layer}") for layer in range(len(self.taps))]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B,) LPIPS between matched rows of two (B, 3, H, W) ImageNet-normalized batches."""
        return self._distance(self.embed(x), self.embed(y))

    def _distance(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> torch.Tensor:
        total: torch.Tensor | float = 0.0
        for a, b, w in zip(fx, fy, self._weights(), strict=True):
            if a.shape[1] != w.numel():
                raise ValueError(
                    f"a tapped layer has {a.shape[1]} channels but its LPIPS weights have "
                    f"{w.numel()}: the weights do not belong to this backbone"
                )
            per_channel = (a - b).pow(2).mean(dim=(2, 3))  # (B, C): spatial mean
            total = total + per_channel @ w  # (B,)
        return total

    def _features(self, images: Sequence[ImageInput]) -> list[torch.Tensor]:
        chunks: list[list[torch.Tensor]] = []
        with _evaluating(self):
            for start in range(0, len(images), self.batch_size):
                chunks.append(self.embed(self._pixels(images[start : start + self.batch_size])))
        return [torch.cat(layer) for layer in zip(*chunks, strict=True)]

    def matrix(
        self, candidates: Sequence[ImageInput], references: Sequence[ImageInput]
    ) -> np.ndarray:
        """(n, m) LPIPS of every candidate with every reference; each image goes through once."""
        fc = self._features(list(candidates))
        fr = self._features(list(references))
        out = np.zeros((len(candidates), len(references)))
        with torch.no_grad():
            for j in range(len(references)):
                column = self._distance(fc, [layer[j : j + 1] for layer in fr])  # broadcast
                out[:, j] = column.cpu().numpy()
        return out

    def distance(self, a: ImageInput, b: ImageInput) -> float:
        """LPIPS between two images (0 = same)."""
        return float(self.matrix([a], [b])[0, 0])

    def to_target(self, candidates: Sequence[ImageInput], target: ImageInput) -> list[float]:
        """LPIPS of each candidate to the target image."""
        return _mean_against(self.matrix, candidates, [target], "LPIPS")

    def to_history(
        self, candidates: Sequence[ImageInput], history: Sequence[ImageInput]
    ) -> list[float]:
        """Mean LPIPS of each candidate to the user's history images."""
        return _mean_against(self.matrix, candidates, history, "LPIPS")


# ------------------------------------------------------------------------ weight files

LPIPS_REMEDY = (
    "The LPIPS linear weights ship in the PyPI package lpips (pip install lpips, file "
    "lpips/weights/{version}/{net}.pth); or pass that file as linear_weights=PATH."
)


def load_linear_weights(path: str | Path, layers: int) -> list[torch.Tensor]:
    """The per-layer channel weights of an LPIPS linear-weights file (``lin{l}.model.1.weight``).

    That is the layout of the ``lpips`` package's files: one (1, C_l, 1, 1) 1x1
    convolution per layer (``model.0`` is its dropout, which holds no weights).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        remedy = LPIPS_REMEDY.format(version=LPIPS_VERSION, net=path.stem)
        raise ModelUnavailableError(
            f"LPIPS linear weights {path}", "the file does not exist", remedy
        ) from exc
    except Exception as exc:  # noqa: BLE001 - re-raised naming the file
        raise ValueError(
            f"{path}: cannot read LPIPS linear weights ({type(exc).__name__}: {exc})"
        ) from exc
    weights = []
    for layer in range(layers):
        key = f"lin{layer}.model.1.weight"
        if not isinstance(state, dict) or key not in state:
            raise ValueError(f"{path}: not an LPIPS linear-weights file (no {key!r})")
        weights.append(state[key].float().flatten())
    return weights


def _linear_weights_file(net: str, given: str | Path | None) -> Path:
    """The LPIPS v0.1 linear weights for ``net``: ``given``, else the ``lpips`` package's copy."""
    remedy = LPIPS_REMEDY.format(version=LPIPS_VERSION, net=net)
    name = f"LPIPS {LPIPS_VERSION} linear weights for {net}"
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise ModelUnavailableError(f"{name} ({path})", "the file does not exist", remedy)
        return path
    # Found without importing lpips (its import loads torchvision models and scipy).
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(name, "the lpips package is not installed", remedy)
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "weights" / LPIPS_VERSION / f"{net}.pth"
        if path.is_file():
            return path
    raise ModelUnavailableError(name, "the installed lpips package lacks the file", remedy)


def _pretrained_features(net: str, given: str | Path | None, download: bool) -> torch.nn.Sequential:
    """torchvision's AlexNet / VGG16 ``features`` with ImageNet weights (see from_pretrained)."""
    import torchvision

    model_name = BACKBONES[net][0]
    url = torchvision.models.get_model_weights(model_name).IMAGENET1K_V1.url
    filename = url.rsplit("/", 1)[-1]
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    name = f"torchvision's {model_name} ImageNet weights ({filename})"
    remedy = (
        f"On a machine with network, torchvision downloads them into {cache} "
        f"(LPIPS.from_pretrained(download=True), or torchvision.models.{model_name}"
        f"(weights='IMAGENET1K_V1')); copy {filename} there, or pass its path as "
        "backbone_weights=PATH."
    )
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise ModelUnavailableError(f"{name} at {path}", "the file does not exist", remedy)
    else:
        path = cache / filename
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - re-raised naming the file
            raise ValueError(f"{path}: cannot read {name} ({type(exc).__name__}: {exc})") from exc
    elif not download:
        raise ModelUnavailableError(name, f"{path} is missing and download=False", remedy)
    else:
        logger.info("Downloading %s from %s (once, into torch hub's cache)", name, url)
        try:
            state = torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False)
        except Exception as exc:  # noqa: BLE001 - no network, a proxy error, a bad file
            raise ModelUnavailableError(
                name, f"not cached at {path} and the download failed ({exc})", remedy
            ) from exc
    features = torchvision.models.get_model(model_name, weights=None).features
    prefix = "features."  # a whole model's state dict, or only its features
    if isinstance(state, dict) and any(str(k).startswith(prefix) for k in state):
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        features.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not {name} ({exc})") from exc
    return features


__all__ = [
    "DEFAULT_SIZE",
    "LPIPS",
    "evaluation_pixels",
    "load_linear_weights",
    "ssim",
    "ssim_matrix",
    "ssim_to_history",
    "ssim_to_target",
]
