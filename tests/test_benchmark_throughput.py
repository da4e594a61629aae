"""benchmarks/throughput.py in its quick mode on a tiny seeded causal LM: every pmgen row
must equal the one-at-a-time loop's headlines (the script's own check), and the report
carries the stock batched-generate rows and the other dtype's row."""

from __future__ import annotations

import json

from tiny_models import save_tiny_causal_lm

from benchmarks import throughput


def test_quick_mode_runs_and_its_identity_check_holds(tmp_path, capsys):
    llm = save_tiny_causal_lm(tmp_path / "llm")
    out = tmp_path / "out"
    throughput.main([
        "--quick", "--model", str(llm), "--rows", "6", "--batch-sizes", "1,2,4",
        "--max-new-tokens", "8", "--other-dtype", "bfloat16", "--out", str(out),
    ])  # fmt: skip
    results = json.loads((out / "throughput.json").read_text())
    names = [run["name"] for run in results["runs"]]
    assert names[0] == "transformers generate, one at a time"
    assert "HeadlinePipeline, batch 4" in names and "transformers generate, batch 4" in names
    assert (
        "HeadlinePipeline, batch 4, bfloat16" in names
        and "HeadlinePipeline, batch 1, bfloat16" in names
    )
    assert not results["mismatches"]
    assert "own_equal_rows" in results["runs"][-1] or "llama" in names[-1]
    ours = [r for r in results["runs"] if r["name"].startswith("HeadlinePipeline, batch")]
    assert all(r["identical"] for r in ours if "dtype" not in r)
    assert all(len(r["texts"]) == 6 for r in results["runs"])
    report = (out / "throughput.md").read_text()
    assert "| reference |" in report and "/6 rows |" in report
    assert (out / "throughput.png").stat().st_size > 0


def test_the_loop_reference_trims_a_cut_headline_as_the_pipeline_does():
    from pipelines.headline import finish_headline

    cut = "Cats can learn their names, and they can choose to"
    assert finish_headline(cut, ended=False) == "Cats can learn their names"
    assert finish_headline(cut, ended=True) == cut
