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
