"""The method notes in ``docs/methods/`` are the project's own documentation.

Nothing may point readers to the private specification the methods were written from,
every built-in method has its page, and every relative link in the READMEs and method
pages resolves (file and, for Markdown targets, heading anchor).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import benchmark.plugins  # noqa: F401  (registers every method)
from benchmark.registry import registered_methods

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOCS = PROJECT_ROOT / "docs" / "methods"
# Method name -> page name, where they differ (variants documented on one page).
PAGE_OF = {"cps_nocutmix": "cps"}
# Pages written alongside those methods; links to them are checked once the method exists.
PENDING_FAMILIES = ("u2pl", "dars", "upc")
SHORTHAND = re.compile(r"METHODS\.md|\bS[0-4]\b|\bUM\b|§|\[CHOICE\]")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _builtin_methods() -> dict:
    return {name: info for name, info in registered_methods().items()
            if info.cls.__module__.startswith("methods.")}


def _page(name: str) -> str:
    for family in PENDING_FAMILIES:
        if name == family or name.startswith(family + "_"):
            return family
    return PAGE_OF.get(name, name)


def _project_files():
    for folder in ("benchmark", "methods", "docs"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                yield path
    yield PROJECT_ROOT / "README.md"


def test_nothing_cites_the_private_specification():
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
        for path in _project_files()
        for number, line in enumerate(path.read_text(errors="ignore").splitlines(), start=1)
        if "METHODS.md" in line
    ]
    assert not offenders, "cite docs/methods/ instead:\n" + "\n".join(offenders)


def test_list_citations_name_papers_not_shorthands():
    for name, info in _builtin_methods().items():
        for text in (info.paper, info.description):
            assert not SHORTHAND.search(text), f"{name}: {text!r}"


@pytest.mark.parametrize("name", sorted(_builtin_methods()))
def test_every_builtin_method_has_a_page(name):
    page = DOCS / f"{_page(name)}.md"
    assert page.is_file(), f"method '{name}' has no page {page.relative_to(PROJECT_ROOT)}"
    text = page.read_text()
    assert "## Decisions where the paper is silent" in text or name == "supervised"


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(markdown: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for line in FENCE.sub("", markdown.read_text()).splitlines():
        if line.startswith("#"):
            slug = _slug(line.lstrip("#"))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _markdown_with_links():
    return [PROJECT_ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("markdown", _markdown_with_links(),
                         ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_relative_links_resolve(markdown):
    registered = set(registered_methods())
    broken = []
    for target in LINK.findall(FENCE.sub("", markdown.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path_part, _, anchor = target.partition("#")
        path = (markdown.parent / path_part).resolve() if path_part else markdown
        if path.parent == DOCS and path.stem in PENDING_FAMILIES and not any(
                _page(name) == path.stem for name in registered):
            continue  # written with that method; checked once it is registered
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{markdown.relative_to(PROJECT_ROOT)}: broken links {broken}"


def test_docs_paths_named_in_code_exist():
    mention = re.compile(r"docs/methods/[\w.]+\.md(?:#[\w-]+)?")
    missing = []
    for folder in ("benchmark", "methods", "tests"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for target in mention.findall(path.read_text()):
                page, _, anchor = target.partition("#")
                file = PROJECT_ROOT / page
                if not file.is_file() or (anchor and anchor not in _anchors(file)):
                    missing.append(f"{path.relative_to(PROJECT_ROOT)}: {target}")
    assert not missing, "\n".join(missing)
