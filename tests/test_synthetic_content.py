"""The generated dataset checked by content: digest, shipped manifest, config hash."""

from __future__ import annotations

import hashlib
import io
import json
import shutil

import pytest


@pytest.fixture
def dataset_copy(small_synthetic_dataset, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(small_synthetic_dataset, root)
    return root


def _independent_digest(root):
    digest = hashlib.sha256()
    for folder in ("JPEGImages", "SegmentationClass", "splits"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def test_digest_covers_every_data_file_and_nothing_else(dataset_copy):
    from benchmark.synthetic.content import content_sha256

    before = content_sha256(dataset_copy)
    assert before == _independent_digest(dataset_copy)
    meta = dataset_copy / "meta.json"
    meta.write_text(meta.read_text() + "\n")  # statistics, not data
    assert content_sha256(dataset_copy) == before
    label = sorted((dataset_copy / "SegmentationClass").glob("*.png"))[0]
    data = bytearray(label.read_bytes())
    data[-20] ^= 1
    label.write_bytes(bytes(data))
    assert content_sha256(dataset_copy) != before


def _manifest(tmp_path, monkeypatch, root, digest):
    import benchmark.synthetic.content as content

    fingerprint = json.loads((root / "meta.json").read_text())["fingerprint"]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({fingerprint: {"content_sha256": digest,
                                              "made_with": {"numpy": "0.0"}}}))
    monkeypatch.setattr(content, "MANIFEST_PATH", path)
    content._checked.cache_clear()
    content._REPORTED.clear()


def test_data_that_differs_from_the_manifest_is_reported_once(dataset_copy, tmp_path,
                                                              monkeypatch):
    from benchmark.synthetic.content import content_sha256, verified_content_sha256

    _manifest(tmp_path, monkeypatch, dataset_copy, "0" * 64)
    stream = io.StringIO()
    assert verified_content_sha256(dataset_copy, stream) == content_sha256(dataset_copy)
    verified_content_sha256(dataset_copy, stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: the generated dataset")
    assert "differs from the one the shipped records were made on" in lines[0]
    assert "numpy 0.0" in lines[0] and "own config hash" in lines[0]

    _manifest(tmp_path, monkeypatch, dataset_copy, content_sha256(dataset_copy))
    quiet = io.StringIO()
    verified_content_sha256(dataset_copy, quiet)
    assert quiet.getvalue() == ""


def test_the_content_digest_enters_the_config_hash(tmp_path, monkeypatch):
    import benchmark.synthetic.content as content
    from benchmark.protocols import get_protocol
    from benchmark.runs.config_builder import config_hash
    from benchmark.synthetic.content import content_sha256
    from tests.conftest import build_run_config

    cfg = build_run_config("supervised", tmp_path)
    root = get_protocol("synthetic").data_root()
    assert cfg.dataset_sha256 == content_sha256(root)
    first = config_hash(cfg)
    monkeypatch.setattr(content, "_checked", lambda *_: ("f" * 64, None))
    assert config_hash(build_run_config("supervised", tmp_path)) != first


def test_the_shipped_manifest_lists_the_default_data_sets():
    from benchmark.pretrain.recipe import PretrainRecipe, pretraining_spec
    from benchmark.synthetic import SyntheticSpec
    from benchmark.synthetic.content import shipped_manifest

    manifest = shipped_manifest()
    target = SyntheticSpec()
    for spec in (target, pretraining_spec(target, PretrainRecipe())):
        entry = manifest[spec.fingerprint()]
        assert len(entry["content_sha256"]) == 64
        assert entry["num_train"] == spec.num_train and entry["num_val"] == spec.num_val
