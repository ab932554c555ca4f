"""``python -m benchmark splits``: partitions with their counts and checksum status."""

from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from benchmark.errors import BenchmarkError
from benchmark.protocols import PROTOCOLS, SPLIT_LIST_ROOT, get_protocol
from benchmark.splits import checksum_status, read_split_list


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "splits", help="list partitions with labeled/unlabeled counts and checksum status",
        description="List every protocol's partitions: labeled and unlabeled image counts "
        "and whether the shipped lists match their checksums (benchmark/split_lists/"
        "MANIFEST.json). For the folder protocol, --draw writes a new partition once, from "
        "a labeled fraction and a seed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--protocol", default=None, help="only this protocol")
    parser.add_argument("--data-root", default=None, metavar="DIR",
                        help="dataset folder of the folder protocol")
    parser.add_argument("--draw", default=None, metavar="NAME",
                        help="folder protocol: draw partition NAME (e.g. 1_8) and write it")
    parser.add_argument("--fraction", type=float, default=None,
                        help="labeled fraction for --draw (default: read from NAME, 1_8 = 1/8)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --draw")
    return parser


def partition_rows(protocol, data_root: str | None = None) -> list[list]:
    """``[protocol, partition, labeled, unlabeled, status]`` for each partition.

    Args:
        protocol: The protocol.
        data_root: ``--data-root`` (where the folder protocol's lists are).
    """
    shipped = not (protocol.builtin or protocol.layout == "folder")
    root = SPLIT_LIST_ROOT if shipped else protocol.data_root(False, data_root)
    if protocol.builtin and not root.is_dir():
        return [[protocol.name, "(generated on first run)", "", "", "generated"]]
    rows = []
    for split in protocol.partitions:
        files = protocol.split_files(split, root)
        paths = (*files.labeled, files.unlabeled, files.val)
        labeled = sum(len(read_split_list(p)) for p in files.labeled)
        unlabeled = len(read_split_list(files.unlabeled))
        status = checksum_status(paths, SPLIT_LIST_ROOT) if shipped else \
            "generated" if protocol.builtin else "user"
        rows.append([protocol.name, split, labeled, unlabeled, status])
    return rows


def run(args: argparse.Namespace) -> int:
    if args.draw:
        return _draw(args)
    names = [args.protocol] if args.protocol else list(PROTOCOLS)
    rows = []
    for name in names:
        protocol = get_protocol(name, args.data_root) if name == args.protocol \
            else PROTOCOLS[name]
        if protocol.layout == "folder" and not args.protocol:
            rows.append([name, "(pass --protocol folder --data-root DIR)", "", "", "user"])
            continue
        rows.extend(partition_rows(protocol, args.data_root))
    print(tabulate(rows, headers=["protocol", "partition", "labeled", "unlabeled", "checksum"],
                   tablefmt="simple"))
    bad = [f"{r[0]}/{r[1]}" for r in rows if r[4] not in ("valid", "generated", "user")]
    if bad:
        print(f"error: {len(bad)} partition(s) differ from the shipped checksums: "
              f"{', '.join(bad)}; restore them with git checkout benchmark/split_lists",
              file=sys.stderr)
        return 1
    return 0


def _draw(args: argparse.Namespace) -> int:
    from benchmark.data.folder import draw_split, split_fraction

    if args.protocol != "folder":
        raise BenchmarkError("--draw writes partitions of your own data only; add "
                             "--protocol folder --data-root DIR")
    root = PROTOCOLS["folder"].data_root(override=args.data_root)
    labeled, unlabeled = draw_split(root, args.draw, split_fraction(args.draw, args.fraction),
                                    args.seed)
    print(f"wrote {root / 'splits' / args.draw}: {labeled} labeled, {unlabeled} unlabeled "
          f"(seed {args.seed})")
    return 0
