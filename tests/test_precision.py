"""dtype "auto": the CPU's flags and a short probe decide bf16 or fp32; names resolve."""

from __future__ import annotations

import pytest
import torch

from pipelines import precision


def test_names_resolve_and_unknown_ones_are_refused():
    assert precision.choose_dtype("bf16") is torch.bfloat16
    assert precision.choose_dtype("float32") is torch.float32
    assert precision.choose_dtype(torch.float16) is torch.float16
    with pytest.raises(ValueError, match="unknown dtype"):
        precision.choose_dtype("float8")


def test_auto_is_fp32_without_native_bf16_flags(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    assert precision.cpu_flags(cpuinfo) == {"fpu", "sse2", "avx2", "fma"}
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    precision.cpu_precision.cache_clear()
    try:
        choice = precision.cpu_precision(training=True)
        assert choice.dtype is torch.float32 and choice.fp32_seconds is None
        assert "no native bf16" in choice.reason
    finally:
        precision.cpu_precision.cache_clear()


def test_auto_follows_the_probe_where_bf16_is_native(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16", "avx2"})
    for fp32, bf16, expected in ((1.0, 0.3, torch.bfloat16), (1.0, 2.0, torch.float32)):
        monkeypatch.setattr(
            precision,
            "probe_seconds",
            lambda dtype, backward=False, a=fp32, b=bf16: a if dtype is torch.float32 else b,
        )
        precision.cpu_precision.cache_clear()
        try:
            assert precision.cpu_precision().dtype is expected
        finally:
            precision.cpu_precision.cache_clear()


def test_the_probe_runs_under_no_grad():
    with torch.no_grad():
        assert precision.probe_seconds(torch.float32, backward=True, shape=(4, 8, 16)) > 0
