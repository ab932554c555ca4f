"""The shipped built-in backbone: verified by its manifest, loaded without training."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch

from benchmark.errors import BenchmarkError


def test_the_shipped_file_matches_its_manifest():
    from benchmark.pretrain.asset import asset_paths, read_manifest

    checkpoint, _ = asset_paths()
    manifest = read_manifest()
    data = checkpoint.read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
    assert len(data) == manifest["size_bytes"]
    assert manifest["recipe"] == {"num_images": 2000, "iterations": 2000, "batch_size": 8,
                                  "lr": 0.02, "seed": 0}
    assert {"cpu", "threads", "torch", "git_commit", "created"} <= manifest["provenance"].keys()
    weights = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    assert "conv1.weight" in weights or any(k.startswith("stem.") for k in weights)


def test_default_recipe_loads_the_shipped_file_and_builds_nothing(tmp_path, monkeypatch):
    from benchmark.pretrain import builtin_backbone
    from benchmark.pretrain.asset import asset_paths, read_manifest
    from benchmark.protocols import get_protocol

    monkeypatch.delenv("SEMISEG_PRETRAIN", raising=False)
    monkeypatch.delenv("SEMISEG_SYNTHETIC", raising=False)
    monkeypatch.setenv("SEMISEG_DATA", str(tmp_path))
    found = builtin_backbone(get_protocol("synthetic"), stream=None)
    assert found.path == asset_paths()[0]
    assert found.sha256 == read_manifest()["sha256"] and found.meta["shipped"] is True
    assert not any(tmp_path.iterdir())  # no data generated, no backbone trained


@pytest.fixture
def asset_copy(tmp_path):
    from benchmark.pretrain.asset import ASSET_DIR

    folder = tmp_path / "assets"
    shutil.copytree(ASSET_DIR, folder)
    return folder


def _fingerprint(folder):
    return json.loads(next(folder.glob("*.json")).read_text())["fingerprint"]


def test_a_corrupt_asset_is_one_line_naming_the_fix(asset_copy):
    from benchmark.pretrain.asset import asset_paths, shipped_backbone

    checkpoint, _ = asset_paths(asset_copy)
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(BenchmarkError) as err:
        shipped_backbone(_fingerprint(asset_copy), asset_copy)
    assert "is corrupt" in str(err.value) and "git checkout" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_asset_or_manifest_is_one_line(asset_copy):
    from benchmark.pretrain.asset import asset_paths, shipped_backbone

    key = _fingerprint(asset_copy)
    assert shipped_backbone("another-recipe", asset_copy) is None
    checkpoint, manifest = asset_paths(asset_copy)
    checkpoint.unlink()
    with pytest.raises(BenchmarkError, match=r"is missing; restore it"):
        shipped_backbone(key, asset_copy)
    manifest.unlink()
    with pytest.raises(BenchmarkError, match=r"manifest .* is missing or unreadable"):
        shipped_backbone(key, asset_copy)


def test_weight_difference_against_a_hand_computation(tmp_path):
    from benchmark.pretrain.asset import weight_difference

    a = {"w": torch.tensor([3.0, 4.0]), "b": torch.tensor([1.0]),
         "n": torch.tensor(5, dtype=torch.long)}
    b = {"w": torch.tensor([3.0, 4.5]), "b": torch.tensor([1.0]),
         "n": torch.tensor(5, dtype=torch.long)}
    torch.save({"state_dict": a}, tmp_path / "a.pth")
    torch.save({"state_dict": b}, tmp_path / "b.pth")
    diff = weight_difference(tmp_path / "a.pth", tmp_path / "b.pth")
    # ||(0, 0.5, 0)|| / ||(3, 4, 1)|| = 0.5 / sqrt(26); integer buffers are not weights
    assert diff == {"tensors": 2, "tensors_differing": 1, "max_abs": 0.5,
                    "relative_l2": pytest.approx(0.5 / 26 ** 0.5)}
    b["w"] = torch.zeros(3)
    torch.save({"state_dict": b}, tmp_path / "c.pth")
    with pytest.raises(BenchmarkError, match="different networks"):
        weight_difference(tmp_path / "a.pth", tmp_path / "c.pth")


def test_rebuild_is_deterministic_and_compares_with_the_shipped_bytes(tmp_path, monkeypatch,
                                                                       capsys):
    """A 2-iteration recipe rebuilt twice gives the same bytes; against a shipped asset of
    that recipe the report says they match."""
    import benchmark.pretrain.asset as asset
    from benchmark.cli import main

    monkeypatch.setenv("SEMISEG_DATA", str(tmp_path / "data"))
    assert main(["pretrain", "--rebuild"]) == 0
    assert "no earlier build of this recipe" in capsys.readouterr().out
    assert main(["pretrain", "--rebuild"]) == 0
    assert "the bytes match this machine's cached build" in capsys.readouterr().out

    from benchmark.pretrain import builtin_backbone
    from benchmark.protocols import get_protocol

    cached = builtin_backbone(get_protocol("synthetic"), stream=None)
    monkeypatch.setattr(asset, "ASSET_DIR", tmp_path / "assets")
    asset.install_asset(cached.path, cached.meta, {"cpu": "test"})
    assert main(["pretrain", "--rebuild"]) == 0
    assert "the bytes match the shipped file" in capsys.readouterr().out
    assert main(["pretrain"]) == 0
    assert "(shipped with the package)" in capsys.readouterr().out
