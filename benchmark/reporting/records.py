"""Reading run records for reports: every usable record, one line per unusable file."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from benchmark.runs.record import RunRecord

# Python types accepted per annotation of RunRecord's fields. No runtime type checker is
# among the dependencies, so the few annotations the record uses are mapped here.
_ACCEPTED = {
    "str": (str,),
    "str | None": (str, type(None)),
    "bool | None": (bool, type(None)),
    "int": (int,),
    "int | None": (int, type(None)),
    "float": (int, float),
    "float | None": (int, float, type(None)),
    "dict": (dict,),
    "dict | None": (dict, type(None)),
    "dict[str, float]": (dict,),
    "dict[str, str]": (dict,),
    "list[dict]": (list,),
}


def record_type_errors(data: dict) -> list[str]:
    """Fields of a record's JSON whose values do not have the annotated type.

    Args:
        data: A record as loaded from JSON.

    Returns:
        One ``field: expected X, got Y`` text per mistyped field (empty when all fit).
    """
    errors = []
    for spec in dataclasses.fields(RunRecord):
        if spec.name not in data:
            continue
        value, accepted = data[spec.name], _ACCEPTED.get(str(spec.type), (object,))
        if (isinstance(value, bool) and bool not in accepted) or not isinstance(value, accepted):
            errors.append(f"{spec.name}: expected {spec.type}, got {type(value).__name__}")
    return errors


def read_record(path: Path) -> RunRecord:
    """Load one record file, checking the types of its fields.

    Raises:
        ValueError: If the file is unreadable, not JSON, misses a field or has a
            mistyped one; the message says which.
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"not readable JSON ({err})") from err
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    errors = record_type_errors(data)
    if errors:
        raise ValueError("; ".join(errors))
    try:
        return RunRecord(**data)
    except TypeError as err:
        raise ValueError(str(err).replace("RunRecord.__init__() ", "")) from err


def read_records(results_dir: Path) -> tuple[list[RunRecord], list[str]]:
    """Load every usable record under ``results_dir/runs``, in file-name order.

    Two files holding the same run (same protocol, split, method, seed and full config
    hash, e.g. a copied file) count once: the first by file name is kept and the other is
    named as a duplicate.

    Args:
        results_dir: Folder holding ``runs/*.json``.

    Returns:
        The records, and one line per skipped file naming it and saying why.
    """
    records, problems, seen = [], [], {}
    for path in sorted((Path(results_dir) / "runs").glob("*.json")):
        try:
            record = read_record(path)
        except ValueError as err:
            problems.append(f"skipped run record {path.name}: {err}")
            continue
        run = (record.protocol, record.split, record.method, record.seed, record.config_hash)
        if run in seen:
            problems.append(f"skipped run record {path.name}: the same run (config hash "
                            f"{record.config_hash[:8]}, seed {record.seed}) as {seen[run]}, "
                            "counted once")
            continue
        seen[run] = path.name
        records.append(record)
    return records, problems


def read_records_reporting_problems(results_dir: Path) -> list[RunRecord]:
    """:func:`read_records`, printing the line of each skipped file to stderr."""
    records, problems = read_records(results_dir)
    for problem in problems:
        print(problem, file=sys.stderr)
    return records
