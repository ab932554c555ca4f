"""Real protocols on fixture datasets in their exact layouts: loading, runs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark import protocols
from benchmark.cli import main
from benchmark.errors import BenchmarkError
from benchmark.splits import read_split_list
from tests.real_fixtures import IMAGE_SIZE, real_fixture

CASES = [("pascal", "1_8"), ("pascal_classic", "92"), ("pascal_u2pl", "u2pl_1_8"),
         ("cityscapes", "1_8"), ("cityscapes_u2pl", "u2pl_1_8")]
# A tiny network and crop so a two-iteration run takes seconds on a CPU.
TINY = ["--backbone", "timm:test_resnet", "--pretrained", "none", "--cfg-options",
        "crop_size=32", "train_dataloader.batch_size=2", "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False", "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False", "model.segmentor.decode_head.channels=16",
        "model.segmentor.decode_head.c1_channels=8"]


@pytest.fixture
def fixture_tree(tmp_path, monkeypatch):
    """Return a function writing a protocol's fixture and pointing the protocol at it."""
    def make(name: str, split: str) -> Path:
        root = tmp_path / name
        monkeypatch.setattr(protocols, "SPLIT_LIST_ROOT", real_fixture(root, name, split))
        return root
    return make


def cli(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(list(args))
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("name, split", CASES)
def test_fixture_loads_through_the_protocol(name, split, fixture_tree, tmp_path, plugins_loaded):
    from mmseg.registry import DATASETS

    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec

    root = fixture_tree(name, split)
    cfg = build_config(RunSpec("unimatch", name, split, pretrained="none", backbone="r18"),
                       root, tmp_path / "w")
    classes = 21 if name.startswith("pascal") else 19
    assert cfg.model.segmentor.decode_head.num_classes == classes
    val = DATASETS.build(cfg.val_dataloader.dataset)
    sample = val[0]
    image, label = sample["data_samples"].img_path, sample["data_samples"].seg_map_path
    expected = np.array(Image.open(label))
    assert sample["inputs"].shape[1:] == IMAGE_SIZE
    assert np.array_equal(sample["data_samples"].gt_sem_seg.data[0].numpy(), expected)
    assert image.startswith(str(root))
    train = DATASETS.build(cfg.train_dataloader.dataset)
    item = train[0]
    crop = cfg.crop_size
    assert item["labeled"]["inputs"].shape[1:] == (crop, crop)
    assert set(item) == {"labeled", "unlabeled", "unlabeled_mix"}


@pytest.mark.parametrize("name, split", CASES)
def test_two_iteration_run_writes_protocol_and_eval_mode(name, split, fixture_tree, tmp_path,
                                                          capsys):
    root = fixture_tree(name, split)
    method = "unimatch" if name == "pascal" else "supervised"
    code, lines = cli(capsys, "run", "--methods", method, "--protocol", name, "--split", split,
                      "--iters", "2", "--data-root", str(root), "--results-dir",
                      str(tmp_path / "results"), "--work-dir", str(tmp_path / "work"), *TINY)
    assert code == 0, lines[-5:]
    record = json.loads(next((tmp_path / "results" / "runs").glob("*.json")).read_text())
    assert record["protocol"] == name and record["split"] == split
    assert record["backbone"] == "timm:test_resnet"
    assert record["eval_mode"] == ("whole" if name.startswith("pascal") else "slide 32/21")
    assert record["iterations"] == 2
    assert len(record["per_class_iou"]) == (21 if name.startswith("pascal") else 19)


def test_missing_listed_images_are_counted_with_first_ids(tmp_path, capsys):
    root = tmp_path / "voc"
    real_fixture(root, "pascal", "1_8")  # 4 images per list; the shipped lists name more
    code, lines = cli(capsys, "run", "--methods", "supervised", "--protocol", "pascal",
                      "--split", "1_8", "--iters", "1", "--data-root", str(root),
                      "--results-dir", str(tmp_path), "--pretrained", "none")
    assert code == 2 and len(lines) == 1
    assert "1319 of 1323 images listed in 1_8/labeled.txt are missing" in lines[0]
    shipped = read_split_list(protocols.SPLIT_LIST_ROOT / "pascal" / "1_8" / "labeled.txt")
    first = ", ".join(Path(image).stem for image, _ in shipped[4:9])
    assert f"(first: {first}, ...)" in lines[0]


def test_cityscapes_label_ids_only_says_how_to_make_train_ids(tmp_path, monkeypatch, capsys):
    root = tmp_path / "cs"
    monkeypatch.setattr(protocols, "SPLIT_LIST_ROOT", real_fixture(root, "cityscapes", "1_8"))
    for label in root.glob("gtFine/**/*_labelTrainIds.png"):
        label.rename(str(label).replace("_labelTrainIds.png", "_labelIds.png"))
    code, lines = cli(capsys, "run", "--methods", "supervised", "--protocol", "cityscapes",
                      "--split", "1_8", "--iters", "1", "--data-root", str(root),
                      "--results-dir", str(tmp_path), "--pretrained", "none")
    assert code == 2 and len(lines) == 1
    assert "4 of 4 labels listed in 1_8/labeled.txt are missing" in lines[0]
    assert "csCreateTrainIdLabelImgs" in lines[0]


def test_nonexistent_data_root_names_the_layout(tmp_path, capsys):
    code, lines = cli(capsys, "run", "--methods", "unimatch", "--protocol", "pascal", "--split",
                      "1_8", "--data-root", "/nonexistent", "--results-dir", str(tmp_path))
    assert code == 2 and len(lines) == 1
    assert "/nonexistent" in lines[0] and "JPEGImages/ and SegmentationClass/" in lines[0]


def test_voc_aug_label_folder_is_used_when_present(fixture_tree, tmp_path, plugins_loaded):
    from mmseg.registry import DATASETS

    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec

    root = fixture_tree("pascal", "1_8")
    (root / "SegmentationClass").rename(root / "SegmentationClassAug")
    cfg = build_config(RunSpec("supervised", "pascal", "1_8", pretrained="none"), root,
                       tmp_path / "w")
    sample = DATASETS.build(cfg.val_dataloader.dataset)[0]
    assert "/SegmentationClassAug/" in sample["data_samples"].seg_map_path


def test_schedule_is_epochs_over_the_unlabeled_set():
    from mmengine.config import Config

    from benchmark.runs.protocol_settings import epoch_iterations

    pascal = Config.fromfile(protocols.get_protocol("pascal").base_config)
    files = protocols.get_protocol("pascal").split_files("1_8", Path("."))
    assert epoch_iterations(pascal, files) == 80 * (9259 // 8)
    cityscapes = Config.fromfile(protocols.get_protocol("cityscapes").base_config)
    files = protocols.get_protocol("cityscapes").split_files("1_16", Path("."))
    assert epoch_iterations(cityscapes, files) == 240 * (2789 // 8)
    assert (pascal.optim_wrapper.optimizer.lr, cityscapes.optim_wrapper.optimizer.lr) == \
        (0.001, 0.005)
    assert pascal.optim_wrapper.paramwise_cfg.custom_keys.decode_head.lr_mult == 10.0
    assert cityscapes.optim_wrapper.paramwise_cfg.custom_keys.decode_head.lr_mult == 1.0
    assert cityscapes.model.segmentor.decode_head.loss_decode.min_kept == 200000
    assert pascal.model.segmentor.decode_head.loss_decode.type == "CrossEntropyLoss"


def test_syncbn_falls_back_to_bn_outside_multi_gpu(monkeypatch):
    from mmengine.config import Config

    from benchmark.runs import protocol_settings

    cfg = Config.fromfile(protocols.get_protocol("cityscapes").base_config)
    assert cfg.model.segmentor.backbone.norm_cfg.type == "SyncBN"
    monkeypatch.setattr(protocol_settings, "multi_gpu", lambda: True)
    protocol_settings.resolve_norm(cfg)
    assert cfg.model.segmentor.decode_head.norm_cfg.type == "SyncBN"
    monkeypatch.setattr(protocol_settings, "multi_gpu", lambda: False)
    protocol_settings.resolve_norm(cfg)
    assert cfg.model.segmentor.backbone.norm_cfg.type == "BN"
    assert cfg.model.segmentor.decode_head.norm_cfg.type == "BN"


def test_backbone_choice_enters_the_config_hash(fixture_tree, tmp_path, plugins_loaded):
    from benchmark.runs.config_builder import build_config, config_hash
    from benchmark.runs.spec import RunSpec

    root = fixture_tree("pascal", "1_8")
    hashes = {}
    for backbone in (None, "r101", "r50"):
        cfg = build_config(RunSpec("supervised", "pascal", "1_8", backbone=backbone,
                                   pretrained="none"), root, tmp_path / "w")
        hashes[backbone] = config_hash(cfg)
    assert hashes[None] == hashes["r101"] != hashes["r50"]


def test_records_without_the_new_fields_still_load(tmp_path):
    from benchmark.runs.record import load_records

    shipped = sorted(Path("results/runs").glob("*.json"))[:1] or \
        sorted(Path("results").rglob("runs/*.json"))[:1]
    data = json.loads(shipped[0].read_text())
    data.pop("backbone", None)
    data.pop("eval_mode", None)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / shipped[0].name).write_text(json.dumps(data))
    record = load_records(tmp_path)[0]
    assert (record.backbone, record.eval_mode) == ("", "")


def test_unknown_backbone_is_one_line(tmp_path, capsys):
    code, lines = cli(capsys, "run", "--methods", "supervised", "--split", "1_8", "--iters", "1",
                      "--backbone", "r77", "--results-dir", str(tmp_path))
    assert code == 2 and len(lines) == 1
    assert "unknown backbone 'r77'" in lines[0] and "timm:<model>" in lines[0]
    with pytest.raises(BenchmarkError, match="unknown timm model"):
        from benchmark.models.backbones import backbone_preset

        backbone_preset("timm:no_such_model_xyz")
