"""What a run's split lists contain, for the record and the config hash.

The config hash names a split by the protocol and split name; the ids the lists hold are
the experiment too. A list that is the protocol's reference (the built-in generator's
output, or a shipped list whose SHA-256 matches ``MANIFEST.json``) is fully named by
that already, so it adds nothing to the hash and existing records keep their hashes. Any
other list (edited, or a user's own) puts the hash of its ids into the config as
``edited_splits_sha256``, so a run on an edited list never passes for the clean run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from benchmark.splits import SplitFiles, checksum_status, read_split_list


def _lists(files: SplitFiles) -> dict[str, tuple[Path, ...]]:
    unlabeled = (files.unlabeled,) if files.unlabeled is not None else ()
    return {"labeled": files.labeled, "unlabeled": unlabeled, "val": (files.val,)}


def split_ids_sha256(files: SplitFiles) -> str:
    """SHA-256 of the (image, label) ids the lists name, per role, in list order.

    The paths of the list files do not enter: the same ids in another folder hash alike.
    """
    ids = {role: [list(pair) for path in paths for pair in read_split_list(path)]
           for role, paths in _lists(files).items()}
    return hashlib.sha256(json.dumps(ids, sort_keys=True).encode()).hexdigest()


def is_reference(protocol, files: SplitFiles, data_root: Path) -> bool:
    """Whether every list of ``files`` is the protocol's reference list, byte for byte."""
    root = protocol.split_root(data_root)
    paths = tuple(p for paths in _lists(files).values() for p in paths)
    if protocol.builtin:
        from benchmark.protocols import generated_dataset_spec
        from benchmark.synthetic.materialize import split_list_texts

        # the lists the generator wrote for *this* folder (not for the environment's spec)
        expected = split_list_texts(generated_dataset_spec(data_root))
        return all(root in p.parents and p.read_text(encoding="utf-8") ==
                   expected.get(p.relative_to(root).as_posix()) for p in paths)
    if protocol.layout == "folder" or not protocol.split_folder:
        return False
    return checksum_status(paths, root) == "valid"
