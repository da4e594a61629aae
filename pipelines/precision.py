"""Which float type runs faster here: bfloat16 where this CPU computes it natively, else float32.

CPUs differ by an order of magnitude: with AVX512-BF16 or AMX a bf16 matrix product runs
several times faster than fp32, while on an AVX2-only CPU bf16 is emulated and several
times slower. ``"auto"`` therefore decides on this machine: the CPU's flags say whether
bf16 can be native, and a short probe (a few matrix products of a transformer layer's
shape, forward and backward) says whether it is faster here. The answer is cached for
the process. On CUDA, bf16 is chosen where the GPU supports it.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
AUTO = "auto"
_PROBE_SHAPE = (256, 576, 1536)  # (tokens, hidden, intermediate): a SmolLM2-135M MLP
_PROBE_REPEATS = 3
_MIN_GAIN = 1.15  # bf16 must be this much faster to be chosen


@dataclass(frozen=True)
class PrecisionChoice:
    """What ``auto`` chose and why (flags, probe seconds)."""

    dtype: torch.dtype
    native_flags: tuple[str, ...]
    fp32_seconds: float | None
    bf16_seconds: float | None
    reason: str

    @property
    def name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (Linux); empty where they cannot be read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def _time(fn, repeats: int = _PROBE_REPEATS) -> float:
    fn()  # warm-up: first-call allocations and kernel selection
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def probe_seconds(
    dtype: torch.dtype, backward: bool = False, shape: tuple[int, int, int] = _PROBE_SHAPE
) -> float:
    """Seconds for one forward (+ backward) of a two-matrix MLP in ``dtype`` (best of a few)."""
    tokens, hidden, inner = shape
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(tokens, hidden, generator=generator).to(dtype)
    w1 = torch.randn(hidden, inner, generator=generator).to(dtype).requires_grad_(backward)
    w2 = torch.randn(inner, hidden, generator=generator).to(dtype).requires_grad_(backward)

    def step() -> None:
        with torch.set_grad_enabled(backward):  # also under a caller's no_grad()
            out = torch.relu(x @ w1) @ w2
            if backward:
                out.float().sum().backward()
                w1.grad = w2.grad = None

    return _time(step)


def native_bf16_flags() -> tuple[str, ...]:
    """The flags of this CPU that compute bf16 natively (empty: bf16 is emulated)."""
    return tuple(sorted(cpu_flags() & set(NATIVE_BF16_FLAGS)))


@functools.lru_cache(maxsize=2)
def cpu_precision(training: bool = False) -> PrecisionChoice:
    """bfloat16 if this CPU has native bf16 and the probe (with a backward pass when
    ``training``) finds it faster, else float32."""
    flags = native_bf16_flags()
    if not flags:
        return PrecisionChoice(
            torch.float32, (), None, None, "the CPU has no native bf16 (avx512_bf16 / amx_bf16)"
        )
    fp32 = probe_seconds(torch.float32, training)
    bf16 = probe_seconds(torch.bfloat16, training)
    if fp32 >= _MIN_GAIN * bf16:
        reason = f"native bf16 ({', '.join(flags)}) and {fp32 / bf16:.1f}x faster in the probe"
        return PrecisionChoice(torch.bfloat16, flags, fp32, bf16, reason)
    reason = f"the CPU has {', '.join(flags)} but bf16 was {fp32 / bf16:.2f}x fp32's speed"
    return PrecisionChoice(torch.float32, flags, fp32, bf16, reason)


def choose_dtype(
    dtype: torch.dtype | str, device: str | torch.device = "cpu", training: bool = False
) -> torch.dtype:
    """``dtype`` as a torch dtype; ``"auto"`` decides for ``device`` and for inference or
    ``training`` (see the module)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).lower().removeprefix("torch.")
    if name != AUTO:
        aliases = {"bf16": "bfloat16", "fp32": "float32", "fp16": "float16", "half": "float16"}
        value = getattr(torch, aliases.get(name, name), None)
        if not isinstance(value, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}: use auto, float32 or bfloat16")
        return value
    if torch.device(device).type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    choice = cpu_precision(training)
    logger.info("dtype auto: %s (%s)", choice.name, choice.reason)
    return choice.dtype
