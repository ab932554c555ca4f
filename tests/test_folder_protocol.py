"""The folder protocol end to end: draw a fixed split, train two iterations, errors."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from benchmark.cli import main
from tests.test_real_protocols import TINY

CLASSES = ("background", "crack", "rust")


def write_folder_dataset(root, count: int = 10, val: int = 2) -> None:
    """``images/``, ``labels/``, ``classes.txt`` and ``splits/val.txt`` with tiny images."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for number in range(count):
        Image.fromarray(rng.integers(0, 255, (36, 44, 3), dtype=np.uint8)).save(
            root / "images" / f"part{number:02d}.jpg")
        Image.fromarray(rng.integers(0, len(CLASSES), (36, 44), dtype=np.uint8)).save(
            root / "labels" / f"part{number:02d}.png")
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    (root / "splits").mkdir()
    (root / "splits" / "val.txt").write_text("".join(
        f"images/part{n:02d}.jpg labels/part{n:02d}.png\n" for n in range(val)))


def run_cli(capsys, *args):
    code = main(list(args))
    return code, capsys.readouterr()


def test_folder_protocol_draws_a_fixed_split_and_trains(tmp_path, capsys):
    root = tmp_path / "mydata"
    write_folder_dataset(root)
    code, out = run_cli(capsys, "splits", "--protocol", "folder", "--data-root", str(root),
                        "--draw", "1_4", "--seed", "3")
    assert code == 0, out.err
    labeled = (root / "splits" / "1_4" / "labeled.txt").read_text().splitlines()
    unlabeled = (root / "splits" / "1_4" / "unlabeled.txt").read_text().splitlines()
    assert (len(labeled), len(unlabeled)) == (2, 6)  # round(8 / 4) of the 8 non-val images
    assert not {"images/part00.jpg", "images/part01.jpg"} & {p.split()[0] for p in labeled}
    # drawn once, then fixed
    code, out = run_cli(capsys, "splits", "--protocol", "folder", "--data-root", str(root),
                        "--draw", "1_4", "--seed", "4")
    assert code == 2 and "stays fixed" in out.err and len(out.err.strip().splitlines()) == 1
    code, out = run_cli(capsys, "splits", "--protocol", "folder", "--data-root", str(root))
    assert code == 0 and "1_4" in out.out and " 2 " in out.out

    code, out = run_cli(capsys, "run", "--methods", "fixmatch", "--protocol", "folder", "--split",
                        "1_4", "--iters", "2", "--data-root", str(root), "--results-dir",
                        str(tmp_path / "results"), "--work-dir", str(tmp_path / "work"), *TINY)
    assert code == 0, out.err[-2000:]
    record = json.loads(next((tmp_path / "results" / "runs").glob("*.json")).read_text())
    assert record["protocol"] == "folder" and record["eval_mode"] == "whole"
    assert tuple(record["per_class_iou"]) == CLASSES


def test_same_seed_draws_the_same_split(tmp_path, capsys):
    lists = []
    for name in ("a", "b"):
        root = tmp_path / name
        write_folder_dataset(root)
        assert run_cli(capsys, "splits", "--protocol", "folder", "--data-root", str(root),
                       "--draw", "1_2", "--seed", "7")[0] == 0
        lists.append((root / "splits" / "1_2" / "labeled.txt").read_text())
    assert lists[0] == lists[1]


def test_folder_errors_are_one_line(tmp_path, capsys):
    root = tmp_path / "mydata"
    write_folder_dataset(root)
    (root / "classes.txt").unlink()
    run_cli(capsys, "splits", "--protocol", "folder", "--data-root", str(root), "--draw", "1_2")
    code, out = run_cli(capsys, "run", "--methods", "supervised", "--protocol", "folder",
                        "--split", "1_2", "--data-root", str(root), "--results-dir",
                        str(tmp_path), "--pretrained", "none")
    lines = out.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "classes.txt missing" in lines[0]
    code, out = run_cli(capsys, "run", "--methods", "supervised", "--protocol", "folder",
                        "--split", "1_3", "--data-root", str(root), "--results-dir",
                        str(tmp_path))
    lines = out.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "unknown split '1_3'" in lines[0]
    assert "valid splits: 1_2, full" in lines[0]
    code, out = run_cli(capsys, "splits", "--protocol", "folder", "--data-root", str(root),
                        "--draw", "half")
    assert code == 2 and "--fraction F" in out.err


def _run_folder(capsys, root, tmp_path):
    """``run`` on split 1_2 of ``root``; returns (exit code, stderr lines)."""
    code, out = run_cli(capsys, "run", "--methods", "supervised", "--protocol", "folder",
                        "--split", "1_2", "--data-root", str(root), "--pretrained", "none",
                        "--results-dir", str(tmp_path / "results"), "--work-dir",
                        str(tmp_path / "work"))
    return code, out.err.strip().splitlines()


def test_a_label_of_another_size_than_its_image_is_one_line_naming_it(tmp_path, capsys):
    root = tmp_path / "mydata"
    write_folder_dataset(root)
    Image.fromarray(np.zeros((18, 22), np.uint8)).save(root / "labels" / "part01.png")
    run_cli(capsys, "splits", "--protocol", "folder", "--data-root", str(root), "--draw", "1_2")
    code, lines = _run_folder(capsys, root, tmp_path)
    assert code == 2
    assert lines == ["error: 1 of 2 labels listed in val.txt differ in size from their image "
                     "(first: labels/part01.png is 22x18, images/part01.jpg is 44x36, width x "
                     "height); a label must have its image's size (supervised folder/1_2 "
                     "seed 0)"]
    assert not (tmp_path / "results").exists() and not (tmp_path / "work").exists()


def test_a_label_value_beyond_the_classes_is_one_line_naming_the_file(tmp_path, capsys):
    root = tmp_path / "mydata"
    write_folder_dataset(root)
    label = np.zeros((36, 44), np.uint8)
    label[0, :3] = (7, 255, 2)  # 255 (ignore) and class 2 are fine, 7 is not
    Image.fromarray(label).save(root / "labels" / "part00.png")
    run_cli(capsys, "splits", "--protocol", "folder", "--data-root", str(root), "--draw", "1_2")
    code, lines = _run_folder(capsys, root, tmp_path)
    assert code == 2
    assert lines == ["error: 1 of 2 labels listed in val.txt hold values outside the 3 classes "
                     "of classes.txt (0-2) and 255 = ignore (first: labels/part00.png holds 7); "
                     "add the classes to classes.txt or fix the labels (supervised folder/1_2 "
                     "seed 0)"]
    assert not (tmp_path / "results").exists() and not (tmp_path / "work").exists()


def test_the_pair_check_reads_palette_labels_turned_images_and_non_images(tmp_path):
    import pytest

    from benchmark.data.folder import check_pairs
    from benchmark.errors import BenchmarkError

    root = tmp_path / "mydata"
    write_folder_dataset(root, count=3, val=1)
    pairs = [(f"images/part{n:02d}.jpg", f"labels/part{n:02d}.png") for n in range(3)]
    palette = Image.fromarray(np.full((36, 44), 255, np.uint8)).convert("P")
    palette.save(root / "labels" / "part01.png")
    check_pairs(root, pairs, "train.txt")  # a palette PNG of ignore pixels is fine
    turned = Image.fromarray(np.zeros((44, 36, 3), np.uint8))  # stored 36 wide, shown 44
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: the loader returns a 44 x 36 image
    turned.save(root / "images" / "part02.jpg", exif=exif)
    check_pairs(root, pairs, "train.txt")
    (root / "labels" / "part02.png").write_text("not a png")
    with pytest.raises(BenchmarkError) as err:
        check_pairs(root, pairs, "train.txt")
    assert str(err.value) == ("1 of 3 pairs listed in train.txt have a file PIL cannot read "
                              "as an image (first: labels/part02.png (UnidentifiedImageError)); "
                              "list only .jpg/.png images and label PNGs")
    Image.fromarray(np.zeros((36, 44, 3), np.uint8)).save(root / "labels" / "part02.png")
    with pytest.raises(BenchmarkError, match=r"1 of 3 labels listed in train.txt are not "
                                             r"single-channel \(first: labels/part02.png "
                                             r"\(mode RGB\)\)"):
        check_pairs(root, pairs, "train.txt")
