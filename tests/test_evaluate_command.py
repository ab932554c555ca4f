"""``python -m benchmark evaluate``: a run's checkpoint scores its record; error lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.cli import main

TRAIN = ["run", "--methods", "meanteacher", "--split", "1_8", "--iters", "4", "--jobs", "1",
         "--cfg-options", "train_cfg.val_interval=2", "train_dataloader.num_workers=0",
         "train_dataloader.persistent_workers=False"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[dict, Path]:
    """The record and work dir of a tiny meanteacher run (evaluates its EMA teacher)."""
    root = tmp_path_factory.mktemp("evaluate")
    assert main([*TRAIN, "--results-dir", str(root / "results"),
                 "--work-dir", str(root / "work")]) == 0
    (record,) = (root / "results" / "runs").glob("*.json")
    (work_dir,) = (root / "work").iterdir()
    return json.loads(record.read_text()), work_dir


def evaluate(capsys, *args: str) -> tuple[int, dict | None, list[str]]:
    code = main(["evaluate", *args, "--json"])
    out, err = capsys.readouterr()
    assert code != 0 or out.lstrip().startswith("{"), out[:2000]  # stdout: the JSON only
    return code, json.loads(out) if code == 0 else None, err.strip().splitlines()


def _teacher_weights(work_dir: Path) -> dict[str, torch.Tensor]:
    from benchmark.engine.resume import CHECKPOINT_GLOBALS

    with torch.serialization.safe_globals(CHECKPOINT_GLOBALS):
        state = torch.load(work_dir / "iter_4.pth", map_location="cpu")["state_dict"]
    return {k[len("teacher."):]: v for k, v in state.items() if k.startswith("teacher.")}


def _reference_miou(work_dir: Path, count: int) -> float:
    """The teacher's predictions on the first ``count`` validation images, IoU by numpy."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import DATASETS, MODELS

    cfg = Config.fromfile(next(work_dir.glob("*.py")))
    model = MODELS.build(cfg.model)
    model.teacher.load_state_dict(_teacher_weights(work_dir))
    model.eval()
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    classes = len(dataset.metainfo["classes"])
    intersection, union = np.zeros(classes), np.zeros(classes)
    for index in range(count):
        batch = model.data_preprocessor(pseudo_collate([dataset[index]]), False)
        with torch.no_grad():
            sample = model.predict(batch["inputs"], batch["data_samples"])[0]
        pred = sample.pred_sem_seg.data[0].numpy()
        gt = sample.gt_sem_seg.data[0].numpy()
        valid = gt != 255
        for c in range(classes):
            p, g = (pred == c) & valid, (gt == c) & valid
            intersection[c] += (p & g).sum()
            union[c] += (p | g).sum()
    return float(np.mean(intersection / (union + 1e-10)) * 100)


def test_work_dir_scores_the_record_of_its_run(trained, capsys):
    record, work_dir = trained
    code, result, _ = evaluate(capsys, str(work_dir))
    assert code == 0
    assert result["checkpoint"] == str(work_dir / "iter_4.pth")
    assert (result["protocol"], result["method"], result["eval_mode"]) == (
        "synthetic", "meanteacher", "whole")
    assert result["val_images"] == 8
    assert result["mIoU"] == pytest.approx(record["miou"], abs=1e-9)
    assert result["per_class_iou"] == pytest.approx(record["per_class_iou"], abs=1e-9)
    assert result["mIoU"] == pytest.approx(_reference_miou(work_dir, 8), abs=1e-6)


def test_run_checkpoint_and_plain_state_dict_files_score_the_same(trained, capsys, tmp_path):
    record, work_dir = trained
    code, result, _ = evaluate(capsys, str(work_dir / "iter_4.pth"), "--method", "meanteacher")
    assert code == 0 and result["mIoU"] == pytest.approx(record["miou"], abs=1e-9)
    # the teacher as a plain segmentor state dict, DDP-prefixed as official files are
    plain = tmp_path / "plain.pth"
    torch.save({"model": {f"module.{k}": v for k, v in _teacher_weights(work_dir).items()}},
               plain)
    code, result, _ = evaluate(capsys, str(plain))  # the supervised network
    assert code == 0 and result["mIoU"] == pytest.approx(record["miou"], abs=1e-9)


def test_val_images_evaluates_the_first_images_of_the_list(trained, capsys):
    _, work_dir = trained
    code, result, _ = evaluate(capsys, str(work_dir), "--val-images", "3")
    assert code == 0 and result["val_images"] == 3
    assert result["mIoU"] == pytest.approx(_reference_miou(work_dir, 3), abs=1e-6)


def test_val_images_beyond_the_built_in_set_generates_more(trained, capsys):
    record, work_dir = trained
    code, result, _ = evaluate(capsys, str(work_dir), "--val-images", "10")
    assert code == 0 and result["val_images"] == 10
    # the larger set starts with the default one: its first 8 give the record again
    code, result, _ = evaluate(capsys, str(work_dir), "--val-images", "8")
    assert result["mIoU"] == pytest.approx(record["miou"], abs=1e-9)


def test_bad_input_is_one_error_line(trained, capsys, tmp_path):
    _, work_dir = trained
    cases = {
        str(tmp_path / "nowhere.pth"): "not found; pass a run's work dir",
        str(tmp_path): "is not a run's work dir",
    }
    for path, message in cases.items():
        code, _, lines = evaluate(capsys, path)
        assert code == 2 and len(lines) == 1 and message in lines[0], lines
    code, _, lines = evaluate(capsys, str(work_dir), "--protocol", "pascal")
    assert code == 2 and len(lines) == 1
    assert "is a run of protocol 'synthetic', not 'pascal'" in lines[0]
    code, _, lines = evaluate(capsys, str(work_dir), "--val-images", "0")
    assert code == 2 and lines == ["error: --val-images must be positive, got 0"]

    weights = _teacher_weights(work_dir)
    weights.pop("decode_head.conv_seg.bias")
    weights["extra.weight"] = torch.zeros(1)
    first = next(iter(weights))
    weights[first] = torch.zeros(1)
    wrong = tmp_path / "wrong.pth"
    torch.save(weights, wrong)
    code, _, lines = evaluate(capsys, str(wrong))
    assert code == 2 and len(lines) == 1
    assert "does not fit the evaluated network of protocol 'synthetic'" in lines[0]
    assert ("1 missing, 1 unexpected and 1 differently shaped weights; first missing: "
            f"decode_head.conv_seg.bias; first unexpected: extra.weight; first with another "
            f"shape: {first} ([1] in the checkpoint") in lines[0]
    (tmp_path / "text.pth").write_text("not a checkpoint")
    code, _, lines = evaluate(capsys, str(tmp_path / "text.pth"))
    assert code == 2 and len(lines) == 1 and "cannot read checkpoint" in lines[0]


def _official_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our segmentor's keys in UniMatch's DeepLabV3Plus layout, under DDP's prefix."""
    stem = {"stem.0.": "conv1.0.", "stem.1.": "conv1.1.", "stem.3.": "conv1.3.",
            "stem.4.": "conv1.4.", "stem.6.": "conv1.6.", "stem.7.": "bn1."}
    head = {"aspp.": "head.", "reduce.": "reduce.", "fuse.": "fuse.", "conv_seg.": "classifier."}
    renamed = {}
    for key, value in state.items():
        part, name = key.split(".", 1)
        table = stem if part == "backbone" else head
        old = next((o for o in table if name.startswith(o)), None)
        name = table[old] + name[len(old):] if old else name
        renamed[f"module.{'backbone.' if part == 'backbone' else ''}{name}"] = value
    return renamed


def test_official_layout_state_dict_loads_into_the_official_head(tmp_path, monkeypatch, capsys,
                                                                 plugins_loaded):
    from mmseg.registry import MODELS

    from benchmark import protocols
    from benchmark.runs.checkpoint_weights import official_layout, read_weights
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec
    from tests.real_fixtures import real_fixture

    root = tmp_path / "voc"
    monkeypatch.setattr(protocols, "SPLIT_LIST_ROOT", real_fixture(root, "pascal", "1_8"))
    cfg = build_config(RunSpec("supervised", "pascal", "1_8", backbone="r18",
                               pretrained="none"), root, tmp_path / "w")
    assert cfg.model.segmentor.decode_head.type == "OfficialDeepLabV3PlusHead"
    torch.manual_seed(0)
    state = MODELS.build(cfg.model).student.state_dict()
    plain, official = tmp_path / "plain.pth", tmp_path / "official.pth"
    torch.save({"state_dict": state}, plain)
    torch.save({"model": _official_names(state)}, official)
    converted = official_layout(read_weights(official))
    assert set(converted) == set(state)
    assert all(torch.equal(converted[key], state[key]) for key in state)
    args = ["--protocol", "pascal", "--data-root", str(root), "--backbone", "r18"]
    code, from_plain, lines = evaluate(capsys, str(plain), *args)
    assert code == 0, lines
    code, from_official, _ = evaluate(capsys, str(official), *args)
    assert code == 0 and from_official["mIoU"] == from_plain["mIoU"]
    assert from_official["val_images"] == 4 and from_official["eval_mode"] == "whole"


def test_window_rule_option_on_cityscapes(tmp_path, monkeypatch, capsys, plugins_loaded):
    from mmseg.registry import MODELS

    from benchmark import protocols
    from benchmark.runs.config_builder import build_config
    from benchmark.runs.spec import RunSpec
    from tests.real_fixtures import real_fixture

    root = tmp_path / "cs"
    monkeypatch.setattr(protocols, "SPLIT_LIST_ROOT", real_fixture(root, "cityscapes", "1_8"))
    cfg = build_config(RunSpec("supervised", "cityscapes", "1_8", backbone="r18",
                               pretrained="none"), root, tmp_path / "w")
    torch.manual_seed(0)
    path = tmp_path / "net.pth"
    torch.save(MODELS.build(cfg.model).student.state_dict(), path)
    args = [str(path), "--protocol", "cityscapes", "--data-root", str(root), "--backbone", "r18"]
    code, official, _ = evaluate(capsys, *args)
    assert code == 0 and official["eval_mode"] == "slide 801/534"
    rule = "model.segmentor.test_cfg.window_rule"
    code, mmseg, _ = evaluate(capsys, *args, "--cfg-options", f"{rule}=mmseg")
    # 40 x 48 images are one window under both rules
    assert code == 0 and mmseg["mIoU"] == official["mIoU"]
    code, _, lines = evaluate(capsys, *args, "--cfg-options", f"{rule}=clip")
    assert code == 2 and len(lines) == 1
    assert ("the evaluated network does not build: ValueError: unknown sliding-window rule "
            "'clip' (test_cfg.window_rule); choose one of: official, mmseg") in lines[0]
    code, _, lines = evaluate(capsys, *args, "--cfg-options", "model.segmentor.test_cfg.windw=1")
    assert code == 2 and len(lines) == 1 and "windw" in lines[0]
