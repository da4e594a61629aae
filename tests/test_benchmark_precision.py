"""benchmarks/precision.py in quick mode on a tiny seeded LLM: both precisions train the
same number of steps and the report names what ``auto`` picks here."""

from __future__ import annotations

from tiny_models import save_tiny_causal_lm

from benchmarks import precision


def test_quick_mode_trains_both_precisions_and_reports(tmp_path):
    llm = save_tiny_causal_lm(tmp_path / "llm")
    out = tmp_path / "out"
    result = precision.main(["--quick", "--llm", str(llm), "--batch-size", "4", "--out", str(out)])
    assert [r["mixed_precision"] for r in result["runs"]] == ["no", "bf16"]
    assert all(r["steps"] == 3 and r["seconds_per_step"] > 0 for r in result["runs"])
    assert result["auto"] in ("float32", "bfloat16")
    report = (out / "precision.md").read_text()
    assert "| float32 |" in report and "| bf16 autocast |" in report
