"""A two-iteration `run` of supervised, UniMatch and UniMatch V2 on the tiny ViT + DPT network."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_three_methods_train_on_the_tiny_vit_through_run(tmp_path):
    results = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--methods", "supervised,unimatch,unimatch_v2",
         "--split", "1_8", "--backbone", "timm:test_vit", "--iters", "2", "--jobs", "1",
         "--results-dir", str(results), "--work-dir", str(tmp_path / "work")],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    records = {r["method"]: r for r in (json.loads(p.read_text())
                                        for p in (results / "runs").glob("*.json"))}
    assert set(records) == {"supervised", "unimatch", "unimatch_v2"}
    for record in records.values():
        assert record["backbone"] == "timm:test_vit" and record["network"] == "vit_dpt"
        assert record["iterations"] == 2 and 0.0 <= record["miou"] <= 100.0
        assert record["pretrained"]["source"] == "none"  # no ViT weights for the data
        assert record["lr"] == 1e-3  # the network's AdamW setting, the same for all
    assert records["unimatch_v2"]["evaluated_network"].startswith("teacher")
    assert records["unimatch_v2"]["ema"]["momentum"] == 0.996
    assert len({r["config_hash"] for r in records.values()}) == 3
    for method in records:
        assert method in result.stdout  # the leaderboard



def test_pascal_dry_run_on_dinov2_composes_and_names_the_checkpoint(tmp_path):
    env = {**os.environ, "SEMISEG_PRETRAINED_DIR": str(tmp_path / "weights"),
           "SEMISEG_PASCAL_ROOT": str(tmp_path / "no_data")}
    result = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--methods", "supervised,unimatch_v2",
         "--protocol", "pascal", "--split", "1_8", "--backbone", "timm:vit_base_patch14_dinov2",
         "--dry-run", "--results-dir", str(tmp_path / "results")],
        capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert str(tmp_path / "weights" / "dinov2_vitb14_pretrain.pth") in output
    assert "decode head TimmDPTHead" in output and "backbone TimmViTBackbone" in output
    assert "2 run(s) would train" in output


def test_list_shows_unimatch_v2_with_its_paper():
    result = subprocess.run([sys.executable, "-m", "benchmark", "list"], capture_output=True,
                            text=True)
    line = next(li for li in result.stdout.splitlines() if li.startswith("unimatch_v2 "))
    assert "UniMatch V2: Pushing the Limit" in line and "arXiv:2410.10777" in line


def test_perf_methods_times_a_method_on_each_backbone():
    from benchmark.perf.step_timing import time_training_steps

    timing = time_training_steps("unimatch_v2", steps=1, warmup=0, backbone="timm:test_vit")
    assert timing.method == "unimatch_v2 [timm:test_vit]" and timing.median_step > 0
