"""Protocols and split lists: resolution, shipped lists, bad input."""

from __future__ import annotations

import hashlib
import json

import pytest

from benchmark.errors import BenchmarkError
from benchmark.protocols import PROTOCOLS, SPLIT_LIST_ROOT, get_protocol, protocol_for_split
from benchmark.splits import read_split_list


def test_split_resolution():
    synthetic = get_protocol("synthetic")
    assert synthetic.resolve_splits("1_8") == ["1_8"]
    assert synthetic.resolve_splits("1_8, 1_4") == ["1_8", "1_4"]
    assert synthetic.resolve_splits("all") == ["1_16", "1_8", "1_4", "1_2"]
    assert synthetic.resolve_splits("full") == ["full"]
    assert get_protocol("pascal_u2pl").resolve_splits("u2pl_1_8") == ["u2pl_1_8"]


def test_unknown_and_ambiguous_splits_list_the_choices():
    with pytest.raises(BenchmarkError, match=r"unknown split '1_3'.*1_16, 1_8, 1_4, 1_2, full"):
        get_protocol("synthetic").resolve_splits("1_3")
    with pytest.raises(BenchmarkError, match=r"ambiguous split '1_' .*matches 1_16, 1_8"):
        get_protocol("synthetic").resolve_splits("1_")
    with pytest.raises(BenchmarkError, match=r"unknown split '1_1'.*did you mean '1_16'"):
        get_protocol("synthetic").resolve_splits("1_1")
    with pytest.raises(BenchmarkError, match="valid protocols: synthetic"):
        get_protocol("voc")


def test_protocol_is_inferred_from_a_split_only_one_protocol_has():
    assert protocol_for_split("1_8").name == "synthetic"
    assert protocol_for_split("92").name == "pascal_classic"
    assert protocol_for_split("1_30").name == "cityscapes"
    with pytest.raises(BenchmarkError, match="ambiguous split.*--protocol pascal_u2pl"):
        protocol_for_split("u2pl_1_8")  # Pascal and Cityscapes both have U2PL splits


def test_shipped_split_lists_match_manifest():
    manifest = json.loads((SPLIT_LIST_ROOT / "MANIFEST.json").read_text())
    assert len(manifest) > 40
    for relative, entry in manifest.items():
        data = (SPLIT_LIST_ROOT / relative).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], relative


def test_every_real_protocol_partition_has_lists():
    for protocol in PROTOCOLS.values():
        if protocol.builtin or protocol.layout == "folder":
            continue
        for split in protocol.split_names:
            files = protocol.split_files(split, data_root=SPLIT_LIST_ROOT)
            for path in (*files.labeled, files.val):
                assert read_split_list(path), path
            if files.unlabeled is not None:
                labeled = {p for f in files.labeled for p in read_split_list(f)}
                assert labeled.isdisjoint(read_split_list(files.unlabeled))


def test_malformed_split_list_names_file_and_line(tmp_path):
    bad = tmp_path / "labeled.txt"
    bad.write_text("JPEGImages/a.jpg SegmentationClass/a.png\nJPEGImages/b.jpg\n")
    with pytest.raises(BenchmarkError, match=r"labeled.txt, line 2"):
        read_split_list(bad)


def test_missing_dataset_folder_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("SEMISEG_PASCAL_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(BenchmarkError, match="set SEMISEG_PASCAL_ROOT="):
        get_protocol("pascal").data_root()


def test_synthetic_config_classes_match_generator():
    from mmengine.config import Config

    from benchmark.synthetic import SyntheticSpec

    cfg = Config.fromfile(get_protocol("synthetic").base_config)
    assert tuple(cfg.metainfo.classes) == tuple(SyntheticSpec().class_names)
    assert cfg.model.segmentor.decode_head.num_classes == len(SyntheticSpec().class_names)


def test_method_overrides_apply_to_every_protocol_of_a_dataset(tmp_path, monkeypatch):
    import dataclasses

    import benchmark.plugins  # noqa: F401
    from benchmark import protocols
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec

    assert {get_protocol(p).dataset for p in ("cityscapes", "cityscapes_u2pl")} == {"cityscapes"}
    # a Cityscapes-family variant (built on the synthetic config so it builds here) gets the
    # leaf's cityscapes override; the synthetic protocol itself keeps the default
    variant = dataclasses.replace(get_protocol("synthetic"), name="cs_variant",
                                  dataset="cityscapes")
    monkeypatch.setitem(protocols.PROTOCOLS, "cs_variant", variant)
    root = get_protocol("synthetic").data_root()
    cfg = build_config(RunSpec("unimatch", "cs_variant", "1_8"), root, tmp_path / "w")
    assert cfg.model.conf_thresh == 0.0
    cfg = build_config(RunSpec("unimatch", "synthetic", "1_8"), root, tmp_path / "w")
    assert cfg.model.conf_thresh == 0.95


def test_protocol_without_base_config_is_a_clear_error(tmp_path, monkeypatch):
    import dataclasses

    from benchmark import protocols
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec

    unwritten = dataclasses.replace(get_protocol("cityscapes"), name="unwritten",
                                    base_config=tmp_path / "unwritten.py")
    monkeypatch.setitem(protocols.PROTOCOLS, "unwritten", unwritten)
    with pytest.raises(BenchmarkError, match="has no base config yet"):
        build_config(RunSpec("supervised", "unwritten", "1_8"), tmp_path, tmp_path / "w")


def test_config_hash_tells_generated_datasets_apart(tmp_path, monkeypatch):
    import json as _json

    import benchmark.plugins  # noqa: F401
    from benchmark.runs.config_builder import build_config, config_hash
    from benchmark.runs.spec import RunSpec

    spec = RunSpec("supervised", "synthetic", "1_8")
    root = get_protocol("synthetic").data_root()
    cfg = build_config(spec, root, tmp_path / "a")
    assert cfg.dataset_fingerprint == _json.loads((root / "meta.json").read_text())["fingerprint"]
    # same settings on another generated dataset: a different hash (no stale skip-if-done)
    monkeypatch.setenv("SEMISEG_SYNTHETIC", _json.dumps({"num_train": 24, "num_val": 4}))
    other_root = get_protocol("synthetic").data_root()
    assert other_root != root
    other = build_config(spec, other_root, tmp_path / "b")
    assert config_hash(other) != config_hash(cfg)
    # the seed and work dir are run-specific, not part of the hash
    again = build_config(RunSpec("supervised", "synthetic", "1_8", seed=3), root, tmp_path / "c")
    assert config_hash(again) == config_hash(cfg)


def test_iters_option_composes_the_config_of_a_protocol_with_that_default(tmp_path):
    import copy

    from benchmark.runs.config_builder import config_hash, set_iterations
    from tests.conftest import build_run_config

    cfg = build_run_config("supervised", tmp_path)
    longer = copy.deepcopy(cfg)
    set_iterations(longer, 4000)
    as_default = copy.deepcopy(cfg)
    as_default.num_iters = 4000  # what a protocol file saying num_iters = 4000 composes to
    as_default.train_cfg.max_iters = 4000
    as_default.train_cfg.val_interval = 800
    for scheduler in as_default.param_scheduler:
        scheduler["end"] = 4000
    assert config_hash(longer) == config_hash(as_default) != config_hash(cfg)
