"""Unusable records are named and skipped; published numbers are a separate, valid block."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.commands.table import table_text
from benchmark.plugins import load_all
from benchmark.protocols import PROTOCOLS
from benchmark.registry import registered_methods
from benchmark.reporting.published import COLUMNS, published_backbone, published_numbers
from benchmark.reporting.records import read_records
from benchmark.reporting.report import protocol_blocks
from tests.reporting_records import make_record, small_set


def _results_with_bad_records(tmp_path):
    for record in small_set():
        record.save(tmp_path)
    runs = tmp_path / "runs"
    (runs / "corrupt.json").write_text('{"method": "sop", ')
    good = json.loads(next(runs.glob("synthetic__1_8__cps__seed0*.json")).read_text())
    (runs / "mistyped.json").write_text(json.dumps({**good, "miou": "high"}))
    missing = {k: v for k, v in good.items() if k != "split"}
    (runs / "missing_field.json").write_text(json.dumps(missing))
    return tmp_path


def test_unusable_records_are_named_and_skipped(tmp_path):
    records, problems = read_records(_results_with_bad_records(tmp_path))
    assert len(records) == len(small_set())
    assert [p.split(":")[0] for p in problems] == [
        "skipped run record corrupt.json", "skipped run record missing_field.json",
        "skipped run record mistyped.json"]
    assert "miou: expected float, got str" in problems[2]
    assert "'split'" in problems[1]


def test_table_prints_despite_unusable_records(tmp_path, capsys):
    results = _results_with_bad_records(tmp_path)
    assert main(["table", "--results-dir", str(results), "--protocol", "synthetic"]) == 0
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 3
    assert "corrupt.json" in captured.err and "fixmatch" in captured.out


def test_published_registry_is_well_formed():
    load_all()  # the built-in methods, whatever ran before
    table = published_numbers()
    assert tuple(table.columns) == COLUMNS
    assert not table.duplicated(["method", "protocol", "split", "backbone", "source"]).any()
    assert set(table.method) <= set(registered_methods())
    for row in table.itertuples():
        assert row.split in PROTOCOLS[row.protocol].split_names, row
        assert 0 < row.miou < 100 and row.source and row.backbone
    assert "synthetic" not in set(table.protocol)


def test_published_block_stands_beside_ours_only_where_numbers_exist():
    assert all("published" not in b.title for b in protocol_blocks(small_set(), "synthetic"))
    ours = [make_record("unimatch", "1_8", s, v, protocol="pascal", backbone="ResNetV1c-101",
                        network="deeplabv3plus") for s, v in enumerate([75.0, 76.0])]
    blocks = protocol_blocks(ours, "pascal")
    assert "mIoU (%) of the final checkpoint" in blocks[0].title  # our rows first
    published = blocks[-1]
    assert "published" in published.title
    rows = published.data[(published.data.method == "unimatch") & (published.data.split == "1_8")]
    gaps = dict(zip(rows.backbone, rows.gap))
    # ours (75.5, R101) is compared with the R101 number only, never with R50's
    assert gaps["DeepLabv3+ R101"] == pytest.approx(75.5 - 78.4)
    assert pd.isna(gaps["DeepLabv3+ R50"])
    assert "unimatch" in set(blocks[0].table.index) and "sop" not in set(blocks[0].table.index)
    assert any("Revisiting Weak-to-Strong" in note or "Sinkhorn" in note
               for note in published.footnotes)


@pytest.mark.parametrize("fmt", ["md", "latex", "html", "csv"])
def test_published_numbers_render_with_repeated_method_rows(fmt):
    text = table_text([], "pascal", fmt)
    assert text.count("unimatch") >= 6  # R50 and R101 at 1_16, 1_8, 1_4
    assert "[1]" in text or fmt == "csv"


@pytest.mark.parametrize("network, backbone, name", [
    ("deeplabv3plus", "r50", "DeepLabv3+ R50"),
    ("", "ResNetV1c-101", "DeepLabv3+ R101"),        # records older than the network field
    ("vit_dpt", "timm:vit_base_patch14_dinov2", "DPT DINOv2-B"),
    ("vit_dpt", "timm:vit_small_patch14_reg4_dinov2.lvd142m", "DPT DINOv2-S"),
    ("vit_dpt", "timm:vit_base_patch16_224", None),   # a ViT the registry has no number for
    ("deeplabv3plus", "timm:resnet50", None),
    ("deeplabv3plus", "", None),                      # records older than the backbone field
])
def test_published_backbone_names_our_network_as_the_registry_does(network, backbone, name):
    assert published_backbone(network, backbone) == name


def test_published_gap_uses_the_row_on_the_same_backbone():
    ours = [make_record("unimatch", "1_8", s, v, protocol="pascal", backbone=b,
                        network="deeplabv3plus", config_hash=b.ljust(64, "0"))
            for b, values in (("r50", [70.0, 72.0]), ("r101", [77.0, 79.0]))
            for s, v in enumerate(values)]
    data = protocol_blocks(ours, "pascal")[-1].data
    rows = data[(data.method == "unimatch") & (data.split == "1_8")]
    gaps = dict(zip(rows.backbone, rows.gap))
    assert gaps["DeepLabv3+ R50"] == pytest.approx(71.0 - 76.9)
    assert gaps["DeepLabv3+ R101"] == pytest.approx(78.0 - 78.4)


def test_torch_free_backbone_names_equal_the_presets_constants():
    from benchmark import backbone_names
    from benchmark.models import backbones

    for name in ("RESNET_DEPTHS", "TIMM_PREFIX", "DEEPLAB_NETWORK", "DPT_NETWORK",
                 "DINOV2_SIZES"):
        assert getattr(backbone_names, name) == getattr(backbones, name), name
    for model in ("vit_base_patch14_dinov2", "vit_small_patch14_reg4_dinov2.lvd142m",
                  "vit_base_patch16_224"):
        size = backbone_names.dinov2_size(model)
        release = backbones.dinov2_release_file(model)
        assert (release is None) == (size is None)
        assert release is None or release.startswith(f"dinov2_vit{size}14")
