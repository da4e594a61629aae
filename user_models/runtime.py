"""One way to get accelerate's process state, so a CPU-only launch of N processes is multi-CPU."""

from __future__ import annotations

import torch


def no_accelerator_device() -> bool:
    """True when neither CUDA, XPU nor MPS is usable: training runs on CPU processes."""
    xpu = getattr(torch, "xpu", None)
    mps = getattr(torch.backends, "mps", None)
    return not (
        torch.cuda.is_available()
        or (xpu is not None and xpu.is_available())
        or (mps is not None and mps.is_available())
    )


def process_state():
    """accelerate's PartialState; on a CPU-only machine launched with N processes it is
    MULTI_CPU over gloo (accelerate only picks that when told cpu=True)."""
    from accelerate import PartialState

    return PartialState(cpu=no_accelerator_device())


def make_accelerator(**kwargs):
    """An Accelerator that agrees with :func:`process_state` about the device."""
    from accelerate import Accelerator

    return Accelerator(cpu=no_accelerator_device(), **kwargs)
