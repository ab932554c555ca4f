"""On-disk layout checks of the real datasets, run before anything trains.

Each protocol family has a layout (``voc``, ``cityscapes``, ``folder``); a dataset root
that does not follow it, or a split list naming files that are not there, is one error
line that says what is missing and how to fix it. The folder protocol's pairs are also
read (:func:`benchmark.data.folder.check_pairs`): sizes and label values.
"""

from __future__ import annotations

import functools
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.splits import SplitFiles, read_split_list

LAYOUTS = {
    "": "the built-in generated dataset (delete its folder to generate it again)",
    "voc": "JPEGImages/ and SegmentationClass/ (the SBD aug labels for the blended pool; "
           "or beside it SegmentationClassAug/, which is then used)",
    "cityscapes": "leftImg8bit/{train,val}/<city>/ and gtFine/{train,val}/<city>/"
                  "*_gtFine_labelTrainIds.png",
    "folder": "images/, labels/ (label PNGs, same names), classes.txt (one class per line) "
              "and splits/val.txt",
}
VOC_AUG_LABELS = "SegmentationClassAug"
SHOWN_IDS = 5
TRAIN_IDS_HINT = (
    "only *_labelIds.png exist: make the train ids with cityscapesscripts "
    "(pip install cityscapesscripts; CITYSCAPES_DATASET={root} csCreateTrainIdLabelImgs)")


def label_folder(layout: str, root: Path) -> str | None:
    """Folder that replaces the label folder named in the split lists, if any.

    The shipped Pascal lists name ``SegmentationClass/`` (UniMatch's layout, with the aug
    labels there); a root that has ``SegmentationClassAug/`` reads labels from it.
    """
    if layout == "voc" and (Path(root) / VOC_AUG_LABELS).is_dir():
        return VOC_AUG_LABELS
    return None


def check_dataset(layout: str, root: Path, files: SplitFiles) -> None:
    """Check the layout of ``root`` and that every file in the split's lists exists.

    Args:
        layout: The protocol's layout name.
        root: Dataset root.
        files: The lists of the run's split.

    Raises:
        BenchmarkError: One line naming the missing folders or files and the fix.
    """
    root = Path(root)
    missing = [d for d in _required(layout) if not (root / d).exists()]
    if missing:
        raise BenchmarkError(f"{root} is not a {layout} dataset folder: {', '.join(missing)} "
                             f"missing; it must hold {LAYOUTS[layout]}")
    for path in (*files.labeled, *([files.unlabeled] if files.unlabeled else []), files.val):
        _check_listed(layout, str(root), str(path))


def _required(layout: str) -> tuple[str, ...]:
    return {"voc": ("JPEGImages",), "cityscapes": ("leftImg8bit", "gtFine"),
            "folder": ("images", "labels", "classes.txt", "splits/val.txt")}.get(layout, ())


@functools.lru_cache(maxsize=64)
def _check_listed(layout: str, root: str, list_file: str) -> None:
    base = Path(root)
    labels = label_folder(layout, base)
    if layout == "voc" and labels is None and not (base / "SegmentationClass").is_dir():
        raise BenchmarkError(f"{base} has no SegmentationClass/ (nor {VOC_AUG_LABELS}/); it "
                             f"must hold {LAYOUTS['voc']}")
    pairs = read_split_list(Path(list_file))
    gone_images, gone_labels = [], []
    for image, label in pairs:
        if labels:
            label = f"{labels}/{label.split('/', 1)[1]}"
        if not (base / image).is_file():
            gone_images.append(image)
        if not (base / label).is_file():
            gone_labels.append(label)
    name = Path(list_file).name if layout == "folder" else \
        "/".join(Path(list_file).parts[-2:])
    if gone_images:
        raise BenchmarkError(
            f"{len(gone_images)} of {len(pairs)} images listed in {name} are missing under "
            f"{base} (first: {_ids(gone_images)}); check --data-root and the layout: "
            f"{LAYOUTS[layout]}")
    if gone_labels:
        hint = f"the layout is {LAYOUTS[layout]}"
        if layout == "cityscapes" and (base / gone_labels[0].replace(
                "_labelTrainIds.png", "_labelIds.png")).is_file():
            hint = TRAIN_IDS_HINT.format(root=base)
        elif layout == "voc":
            hint = ("the blended pool needs the SBD aug labels (10 582 train_aug PNGs) in "
                    f"SegmentationClass/ or {VOC_AUG_LABELS}/")
        raise BenchmarkError(
            f"{len(gone_labels)} of {len(pairs)} labels listed in {name} are missing under "
            f"{base} (first: {_ids(gone_labels)}); {hint}")
    if layout == "folder":
        from benchmark.data.folder import check_pairs

        check_pairs(base, pairs, name)


def _ids(paths: list[str]) -> str:
    shown = ", ".join(Path(p).stem for p in paths[:SHOWN_IDS])
    return shown + (", ..." if len(paths) > SHOWN_IDS else "")
