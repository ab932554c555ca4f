"""Evaluation protocols: dataset, split files, base config and evaluation mode.

A protocol names everything a run needs besides the method: where the images are,
which partitions exist, the base MMEngine config (model, data pipeline, schedule,
evaluation) and the network that is evaluated. ``--split`` is resolved inside one
protocol.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.paths import CONFIG_ROOT, PACKAGE_ROOT
from benchmark.splits import SplitFiles

SPLIT_LIST_ROOT = PACKAGE_ROOT / "split_lists"
FULL_SPLIT = "full"


@dataclass(frozen=True)
class Protocol:
    """A benchmark protocol.

    Attributes:
        name: CLI name.
        description: One line.
        base_config: MMEngine config with model, data, schedule and evaluation.
        partitions: Semi-supervised partitions in order (what ``--split all`` runs).
        split_folder: Folder name under the split root holding ``<split>/labeled.txt``.
        data_root_env: Environment variable that overrides the dataset root.
        default_data_root: Dataset root when the variable is unset.
        builtin: True for the generated synthetic dataset (materialised on demand).
        full_lists: List files (relative to the split root) that make up split ``full``.
        dataset: Dataset family shared by protocol variants (``pascal``, ``cityscapes``);
            method leaves key their ``protocol_overrides`` by it.
        layout: On-disk layout checked before training (``voc``, ``cityscapes``,
            ``folder``; see :mod:`benchmark.data.layout`).
    """

    name: str
    description: str
    base_config: Path
    partitions: tuple[str, ...]
    split_folder: str = ""
    data_root_env: str = ""
    default_data_root: str = ""
    builtin: bool = False
    full_lists: tuple[str, ...] = ("train.txt",)
    dataset: str = ""
    layout: str = ""

    @property
    def split_names(self) -> tuple[str, ...]:
        """All split names, the partitions plus ``full`` (every training image labeled)."""
        return (*self.partitions, FULL_SPLIT)

    def data_root(self, materialize: bool = True, override: str | Path | None = None,
                  must_exist: bool = True) -> Path:
        """Return the dataset root, generating the built-in dataset if needed.

        Args:
            materialize: Generate the built-in dataset if it does not exist yet.
            override: ``--data-root``; wins over the environment variable and the default.
            must_exist: Raise if a real dataset's folder is missing (False: return the
                path anyway, for composing configs without the data).

        Raises:
            BenchmarkError: If a real dataset folder is missing (the message names the
                layout expected there).
        """
        if self.builtin:
            from benchmark.synthetic import default_root
            from benchmark.synthetic import materialize as make

            spec = synthetic_spec()
            root = default_root(spec)
            return make(root, spec) if materialize else root
        from benchmark.data.layout import LAYOUTS

        root = Path(override or os.environ.get(self.data_root_env)
                    or self.default_data_root).expanduser()
        if must_exist and not root.is_dir():
            raise BenchmarkError(
                f"dataset folder {root} for protocol '{self.name}' not found; it must hold "
                f"{LAYOUTS[self.layout]}; pass --data-root DIR or set "
                f"{self.data_root_env}=DIR (docs/protocols.md)"
            )
        return root

    def split_root(self, data_root: Path) -> Path:
        """Folder holding ``<split>/labeled.txt``, ``<split>/unlabeled.txt`` and ``val.txt``."""
        if self.builtin or self.layout == "folder":
            return Path(data_root) / "splits"
        return SPLIT_LIST_ROOT / self.split_folder

    def with_partitions_of(self, data_root: Path) -> Protocol:
        """The folder protocol with the partitions found in ``data_root/splits``.

        Other protocols ship their partitions and are returned unchanged.
        """
        if self.layout != "folder":
            return self
        root = self.split_root(data_root)
        found = sorted(p.parent.name for p in root.glob("*/labeled.txt")) if root.is_dir() else []
        return replace(self, partitions=tuple(found))

    def split_files(self, split: str, data_root: Path) -> SplitFiles:
        """Return the list files of one (already resolved) split."""
        root = self.split_root(data_root)
        if split == FULL_SPLIT:
            return SplitFiles(split, tuple(root / f for f in self.full_lists), None,
                              root / "val.txt")
        return SplitFiles(split, (root / split / "labeled.txt",), root / split / "unlabeled.txt",
                          root / "val.txt")

    def resolve_splits(self, spec: str) -> list[str]:
        """Resolve ``--split``: one name, a comma list, or ``all`` (every partition).

        Names must match exactly; an unknown name is an error listing the choices, and a
        prefix of several names (``1_``) is reported as ambiguous.
        """
        if spec.strip() == "all":
            return list(self.partitions)
        resolved = []
        for name in (s.strip() for s in spec.split(",") if s.strip()):
            if name in self.split_names:
                resolved.append(name)
                continue
            matches = [s for s in self.split_names if s.startswith(name)]
            choices = ", ".join(self.split_names)
            if len(matches) > 1:
                raise BenchmarkError(
                    f"ambiguous split '{name}' in protocol '{self.name}': matches "
                    f"{', '.join(matches)}; choose one of: {choices}"
                )
            hint = f"did you mean '{matches[0]}'? " if matches else ""
            raise BenchmarkError(
                f"unknown split '{name}' for protocol '{self.name}'; {hint}valid splits: "
                f"{choices}, all"
            )
        if not resolved:
            raise BenchmarkError(f"no split given; valid splits: {', '.join(self.split_names)}")
        return resolved


def protocol_for_split(spec: str) -> Protocol:
    """Pick the protocol when ``--protocol`` is not given.

    The default protocol wins when it has every named split; otherwise the split names
    must belong to exactly one protocol, else the choices are listed.
    """
    names = [s.strip() for s in spec.split(",") if s.strip()]
    default = PROTOCOLS[DEFAULT_PROTOCOL]
    if spec.strip() == "all" or all(n in default.split_names for n in names):
        return default
    owners = [p for p in PROTOCOLS.values() if all(n in p.split_names for n in names)]
    if len(owners) == 1:
        return owners[0]
    if len(owners) > 1:
        choices = ", ".join(f"--protocol {p.name}" for p in owners)
        raise BenchmarkError(f"ambiguous split '{spec}': it exists in several protocols; "
                             f"add one of: {choices}")
    return default  # resolve_splits reports the unknown name with the default's choices


def synthetic_spec():
    """The built-in dataset's spec; ``SEMISEG_SYNTHETIC`` (JSON) overrides fields.

    Example: ``SEMISEG_SYNTHETIC='{"num_train": 40, "num_val": 10}'`` for quick tests.
    """
    import json

    from benchmark.synthetic import SyntheticSpec

    text = os.environ.get("SEMISEG_SYNTHETIC", "").strip()
    if not text:
        return SyntheticSpec()
    try:
        fields = json.loads(text)
        if not isinstance(fields, dict):
            raise TypeError(f"got a JSON {type(fields).__name__}")
        return _spec_from_fields(fields)
    except (ValueError, TypeError) as err:
        raise BenchmarkError(f"invalid SEMISEG_SYNTHETIC={text!r}: {err}; pass a JSON object "
                             "of SyntheticSpec fields") from err


def _spec_from_fields(fields: dict):
    """A ``SyntheticSpec`` from JSON fields (lists become the spec's tuples)."""
    from benchmark.synthetic import SyntheticSpec

    def as_tuples(value):
        return tuple(as_tuples(v) for v in value) if isinstance(value, list) else value

    return SyntheticSpec(**{k: as_tuples(v) for k, v in fields.items()})


def generated_dataset_spec(data_root: Path):
    """The spec a generated dataset folder was made from (its ``meta.json``)."""
    import json

    return _spec_from_fields(json.loads((Path(data_root) / "meta.json").read_text())["spec"])


def _protocol_config(name: str) -> Path:
    return CONFIG_ROOT / "protocols" / f"{name}.py"


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            name="synthetic",
            description="built-in generated 64 px scenes, 3 long-tailed object classes (CPU)",
            base_config=_protocol_config("synthetic"),
            partitions=("1_16", "1_8", "1_4", "1_2"),
            builtin=True,
            dataset="synthetic",
        ),
        Protocol(
            name="pascal",
            description="Pascal VOC 2012 aug, blended splits (CPS/UniMatch), crop 321",
            base_config=_protocol_config("pascal"),
            partitions=("1_16", "1_8", "1_4", "1_2"),
            split_folder="pascal",
            data_root_env="SEMISEG_PASCAL_ROOT",
            default_data_root="data/pascal",
            dataset="pascal",
            layout="voc",
            full_lists=("train_aug.txt",),
        ),
        Protocol(
            name="pascal_classic",
            description="Pascal VOC 2012, classic high-quality splits 92..1464, crop 321",
            base_config=_protocol_config("pascal"),
            partitions=("92", "183", "366", "732", "1464"),
            split_folder="pascal",
            data_root_env="SEMISEG_PASCAL_ROOT",
            default_data_root="data/pascal",
            dataset="pascal",
            layout="voc",
            full_lists=("1464/labeled.txt",),
        ),
        Protocol(
            name="pascal_u2pl",
            description="Pascal VOC 2012 aug, U2PL blended splits, crop 513",
            base_config=_protocol_config("pascal_u2pl"),
            partitions=("u2pl_1_16", "u2pl_1_8", "u2pl_1_4", "u2pl_1_2"),
            split_folder="pascal",
            data_root_env="SEMISEG_PASCAL_ROOT",
            default_data_root="data/pascal",
            dataset="pascal",
            layout="voc",
            full_lists=("train_aug.txt",),
        ),
        Protocol(
            name="cityscapes",
            description="Cityscapes fine, CPS/UniMatch splits, crop 801, sliding-window eval",
            base_config=_protocol_config("cityscapes"),
            partitions=("1_30", "1_16", "1_8", "1_4", "1_2"),
            split_folder="cityscapes",
            data_root_env="SEMISEG_CITYSCAPES_ROOT",
            default_data_root="data/cityscapes",
            dataset="cityscapes",
            layout="cityscapes",
            full_lists=("1_2/labeled.txt", "1_2/unlabeled.txt"),
        ),
        Protocol(
            name="cityscapes_u2pl",
            description="Cityscapes fine, U2PL splits, crop 801, sliding-window eval",
            base_config=_protocol_config("cityscapes_u2pl"),
            partitions=("u2pl_1_16", "u2pl_1_8", "u2pl_1_4", "u2pl_1_2"),
            split_folder="cityscapes",
            data_root_env="SEMISEG_CITYSCAPES_ROOT",
            default_data_root="data/cityscapes",
            dataset="cityscapes",
            layout="cityscapes",
            full_lists=("1_2/labeled.txt", "1_2/unlabeled.txt"),
        ),
        Protocol(
            name="folder",
            description="your own data: images/, labels/, classes.txt, splits/ (DIR)",
            base_config=_protocol_config("folder"),
            partitions=(),
            data_root_env="SEMISEG_FOLDER_ROOT",
            default_data_root="data/folder",
            dataset="folder",
            layout="folder",
        ),
    )
}
DEFAULT_PROTOCOL = "synthetic"


def get_protocol(name: str, data_root: str | Path | None = None) -> Protocol:
    """Return a protocol by name or raise an error listing the valid names.

    Args:
        name: Protocol name.
        data_root: ``--data-root``; the folder protocol reads its partitions from there
            (or from its environment variable / default when None).
    """
    if name not in PROTOCOLS:
        raise BenchmarkError(
            f"unknown protocol '{name}'; valid protocols: {', '.join(PROTOCOLS)}"
        )
    protocol = PROTOCOLS[name]
    if protocol.layout == "folder":
        protocol = protocol.with_partitions_of(protocol.data_root(override=data_root))
    return protocol
