"""The README's leaderboard block is the output of the command it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.commands.table import table_text
from benchmark.errors import BenchmarkError
from benchmark.reporting.readme import END, START, readme_block, update_readme
from benchmark.reporting.records import read_records

ROOT = Path(__file__).resolve().parents[1]


def test_readme_block_equals_table_output_for_the_shipped_records():
    records, problems = read_records(ROOT / "results")
    assert not problems
    block = readme_block((ROOT / "README.md").read_text(), "synthetic")
    assert block == table_text(records, "synthetic")
    assert "python -m benchmark table --protocol synthetic`" in START.format(protocol="synthetic")


def test_update_readme_replaces_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    start, end = START.format(protocol="p"), END.format(protocol="p")
    readme.write_text(f"intro\n{start}\nold table\n{end}\noutro\n")
    assert update_readme(readme, "p", "new table\n")
    assert readme.read_text() == f"intro\n{start}\nnew table\n{end}\noutro\n"
    assert not update_readme(readme, "p", "new table\n")
    with pytest.raises(BenchmarkError, match="no generated block for protocol q"):
        update_readme(readme, "q", "x\n")
