"""The generated dataset checked by content, against a manifest shipped with the package.

The fingerprint of a :class:`~benchmark.synthetic.SyntheticSpec` names what was asked
for; the files are what this machine's NumPy, Pillow and libjpeg made of it. The
content digest is one SHA-256 over every image, label and split list (relative path and
bytes, in sorted order). ``content_manifest.json`` holds the digest of every dataset the
shipped records and the shipped backbone were made on; a materialised dataset whose
digest differs is reported once per process, and since the digest enters every run's
config hash (``dataset_sha256``), runs on other data never share a row with the shipped
records.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from ..streams import CONSOLE, console_stream
from .materialize import IMAGE_DIR, LABEL_DIR, META_FILE, SPLIT_DIR
from .spec import SyntheticSpec

MANIFEST_PATH = Path(__file__).with_name("content_manifest.json")
_CONTENT_FOLDERS = (IMAGE_DIR, LABEL_DIR, SPLIT_DIR)
_REPORTED: set[str] = set()  # dataset roots whose difference was reported already


def content_sha256(root: Path) -> str:
    """Hex SHA-256 over the relative path and bytes of every data file under ``root``."""
    root = Path(root)
    digest = hashlib.sha256()
    for folder in _CONTENT_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def shipped_manifest(path: Path | None = None) -> dict:
    """``{spec fingerprint: {"content_sha256", "num_files", "made_with", ...}}``."""
    path = MANIFEST_PATH if path is None else path
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        return {}


def _versions() -> dict:
    import importlib.metadata as metadata

    found = {}
    for name in ("numpy", "pillow", "opencv-python"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


@cache
def _checked(root: str, meta_mtime_ns: int) -> tuple[str, dict | None]:
    """Digest of ``root`` and the manifest's entry for its spec (None: not listed)."""
    meta = json.loads((Path(root) / META_FILE).read_text(encoding="utf-8"))
    return content_sha256(Path(root)), shipped_manifest().get(meta["fingerprint"])


def verified_content_sha256(root: Path, stream=CONSOLE) -> str:
    """The content digest of the dataset at ``root``, compared with the shipped manifest.

    A digest that differs from the manifest's is reported once per process on ``stream``
    (the run goes on, under its own config hash); a dataset the manifest does not list
    (a ``SEMISEG_SYNTHETIC`` variant) is not reported.

    Args:
        root: A materialised dataset (with ``meta.json``).
        stream: Where the report goes (None: silent).
    """
    root, stream = Path(root).resolve(), console_stream(stream)
    digest, expected = _checked(str(root), (root / META_FILE).stat().st_mtime_ns)
    differs = expected is not None and expected["content_sha256"] != digest
    if differs and stream is not None and str(root) not in _REPORTED:
        _REPORTED.add(str(root))
        stream.write(
            f"warning: the generated dataset {root} differs from the one the shipped records "
            f"were made on (content SHA-256 {digest[:12]}..., shipped "
            f"{expected['content_sha256'][:12]}...); this machine's libraries "
            f"({_describe(_versions())}; shipped: {_describe(expected.get('made_with', {}))}) "
            "draw other images, so its runs get their own config hash and rows\n")
    return digest


def _describe(versions: dict) -> str:
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items())) or "?"


def manifest_entry(root: Path, spec: SyntheticSpec) -> dict:
    """The manifest entry of the dataset at ``root`` (for maintainers updating the file)."""
    root = Path(root)
    files = sum(1 for folder in _CONTENT_FOLDERS for p in (root / folder).rglob("*")
                if p.is_file())
    return {"content_sha256": content_sha256(root), "num_files": files,
            "num_train": spec.num_train, "num_val": spec.num_val, "made_with": _versions()}
