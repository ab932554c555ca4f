"""The README's "Add a method" example, taken from the README, works as documented.

Its plugin file and config (beside it) pass ``check-plugin``, it trains for 2 iterations
with ``--plugins``, its source hash is in the record and an edited plugin is not "done";
a plugin that breaks the contract gets a FAIL verdict for that check and exit 1.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.test_cli import cli

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> tuple[str, str]:
    """The plugin file and its config: the first two Python blocks of "Add a method"."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Add a method", 1)[1].split("\n## ", 1)[0]
    plugin, config = re.findall(r"```python\n(.*?)```", section, re.DOTALL)[:2]
    return plugin, config


@pytest.fixture()
def readme_plugin(tmp_path) -> Path:
    plugin, config = readme_example()
    folder = tmp_path / "my_plugins"
    folder.mkdir()
    (folder / "my_method.py").write_text(plugin)
    (folder / "my_method_config.py").write_text(config)
    return folder / "my_method.py"


def verdicts(stdout: str) -> dict[str, str]:
    """``{check name: 'PASS' or 'FAIL'}`` from check-plugin's output."""
    found = {}
    for line in stdout.splitlines():
        status, _, rest = line.strip().partition(" ")
        if status in ("PASS", "FAIL"):
            found[rest.split(": ")[0]] = status
    return found


def test_readme_plugin_passes_check_plugin(readme_plugin):
    result = cli("check-plugin", str(readme_plugin))
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    found = verdicts(result.stdout)
    assert len(found) == 7 and set(found.values()) == {"PASS"}, result.stdout
    assert f"config {readme_plugin.parent / 'my_method_config.py'}" in result.stdout
    assert result.stdout.strip().endswith("all checks passed")


def test_readme_plugin_trains_and_an_edit_makes_it_not_done(readme_plugin, tmp_path):
    results, work = tmp_path / "results", tmp_path / "work"
    common = ["--methods", "my_method", "--plugins", str(readme_plugin), "--iters", "2",
              "--results-dir", str(results), "--work-dir", str(work)]
    result = cli("run", *common)
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert record["method"] == "my_method"
    assert record["plugin_sha256"] == hashlib.sha256(readme_plugin.read_bytes()).hexdigest()
    assert "mask_ratio" in record["diagnostics"]

    plan = cli("run", *common, "--skip-done", "--dry-run")
    assert plan.returncode == 0 and "skipped, record exists" in plan.stdout, plan.stdout
    with readme_plugin.open("a") as handle:
        handle.write("# edited\n")
    plan = cli("run", *common, "--skip-done", "--dry-run")
    assert plan.returncode == 0
    assert "would train" in plan.stdout and "skipped" not in plan.stdout
    assert record["config_hash"][:8] not in plan.stdout


def test_a_plugin_breaking_the_contract_fails_that_check(readme_plugin):
    source = readme_plugin.read_text()
    broken = source.replace("strong_logits, label,", "strong_logits.detach(), label,")
    assert broken != source
    readme_plugin.write_text(broken)
    result = cli("check-plugin", str(readme_plugin))
    assert result.returncode == 1
    found = verdicts(result.stdout)
    assert found.pop("unsupervised loss trains the student, not the teacher") == "FAIL"
    assert set(found.values()) == {"PASS"}, result.stdout
    assert "the unsupervised loss does not reach the student" in result.stdout
    assert result.stdout.strip().endswith("1 check(s) failed")


@pytest.mark.parametrize("name, suggestion", [
    ("a|b", "a_b"), ("my-method", "my_method"), ("$x^2$", "x_2"), ("", "my_method"),
    ("méthode", "m_thode"), ("two words", "two_words")])
def test_a_method_name_outside_letters_digits_underscore_is_refused(name, suggestion):
    from benchmark.errors import BenchmarkError
    from benchmark.registry import register_method, registered_methods

    with pytest.raises(BenchmarkError) as err:
        register_method(name, description="x", paper="none")
    assert str(err.value) == (
        f"method name {name!r} is not allowed: a method name is letters, digits and '_' "
        f"only ([A-Za-z0-9_]+; it names record files and table cells); rename it, e.g. "
        f"'{suggestion}'")
    assert name not in registered_methods()


def test_a_plugin_with_a_markdown_breaking_name_is_one_error_line(readme_plugin):
    source = readme_plugin.read_text()
    readme_plugin.write_text(source.replace('@register_method("my_method"',
                                            '@register_method("a|b"'))
    result = cli("list", "--plugins", str(readme_plugin))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: method name 'a|b' is not allowed: a method name is letters, digits and '_' "
        "only ([A-Za-z0-9_]+; it names record files and table cells); rename it, e.g. 'a_b'"]
