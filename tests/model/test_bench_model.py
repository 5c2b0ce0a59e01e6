"""`evenet bench model`: measured figures, the operator count and the profile file."""

from __future__ import annotations

from evenet.bench.model import bench_model


def test_bench_model_measures_and_writes_the_profile(tmp_path):
    """Guards against the benchmark reporting figures it did not measure or a profile
    option that writes nothing."""
    profile = tmp_path / "profile.txt"
    result = bench_model(
        "tiny", batch_size=8, steps=1, mode="finetune", profile=str(profile), audit=True
    )
    assert result["events_per_s"] > 0 and result["body_gflops_per_copy"] > 0
    assert result["encoded_copies_per_event"] == 1 and result["mfu"] is None  # CPU: no peak
    assert result["ops_per_step"] > 100  # a real forward + backward, not an empty count
    # fp32 on the CPU: every product of the step is float32, the body's and the backward's
    assert result["float32_matmuls"]["backward"] > 0
    assert any(k.startswith("model/") for k in result["float32_matmuls"])
    assert result["host_syncs"] is None
    text = profile.read_text()
    assert "profile_step_ms" in text and "aten::" in text


def test_bench_model_can_keep_only_an_analysis_topology():
    """Guards the fine-tuning benchmark of one analysis: only its topology's assignment head
    is built, and a mistyped name is an error rather than an empty list of heads."""
    import pytest

    from evenet.model.errors import ModelConfigError

    result = bench_model("tiny", batch_size=8, steps=1, mode="finetune", topologies=["haa_4b"])
    assert result["topologies"] == ["haa_4b"]
    every = bench_model("tiny", batch_size=8, steps=1, mode="finetune")
    assert len(every["topologies"]) > 1 and every["ops_per_step"] > result["ops_per_step"]
    with pytest.raises(ModelConfigError, match="haa4b"):
        bench_model("tiny", steps=1, topologies=["haa4b"])
