"""Writers for report blocks: Markdown, CSV, LaTeX and HTML.

Layout is tabulate's (Markdown, LaTeX, HTML) and pandas' (CSV); this module only
escapes cell text for the target and emphasises the cells marked best.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from pylatexenc.latexencode import unicode_to_latex
from tabulate import tabulate

FORMATS = ("md", "csv", "latex", "html")


@dataclass
class Block:
    """One titled table of a report.

    Attributes:
        title: One line above the table.
        table: Display text; the index is the first column and is named.
        bold: Same shape as ``table``; True marks a cell to emphasise (best in column).
        footnotes: Lines printed under the table.
        data: The numbers behind the table in long form, written by the CSV writer.
    """

    title: str
    table: pd.DataFrame
    bold: pd.DataFrame | None = None
    footnotes: list[str] = field(default_factory=list)
    data: pd.DataFrame | None = None


@dataclass(frozen=True)
class _Markup:
    escape: Callable[[str], str]
    emphasise: Callable[[str], str]
    tablefmt: str
    paragraph: Callable[[str], str]


def _latex_escape(text: str) -> str:
    return unicode_to_latex(text, non_ascii_only=False)


_MARKUPS = {
    "md": _Markup(str, lambda t: f"**{t}**" if t else t, "github", str),
    "latex": _Markup(_latex_escape, lambda t: rf"\textbf{{{t}}}" if t else t, "latex_raw",
                     lambda t: f"{t}\\par"),
    "html": _Markup(html.escape, lambda t: f"<strong>{t}</strong>" if t else t, "unsafehtml",
                    lambda t: f"<p>{t}</p>"),
}


def _table_text(block: Block, markup: _Markup) -> str:
    table = block.table.fillna("").astype(str)
    bold = block.bold.to_numpy(dtype=bool) if block.bold is not None \
        else np.zeros(table.shape, dtype=bool)
    # positional, so that repeated row names (published numbers) stay distinct
    cells = [[markup.escape(str(index))]
             + [markup.emphasise(markup.escape(text)) if flag else markup.escape(text)
                for text, flag in zip(texts, flags)]
             for index, texts, flags in zip(table.index, table.to_numpy(), bold)]
    headers = [markup.escape(str(table.index.name or ""))] + [markup.escape(str(c))
                                                              for c in table.columns]
    return tabulate(cells, headers=headers, tablefmt=markup.tablefmt, disable_numparse=True)


def _render_markup(blocks: list[Block], markup: _Markup) -> str:
    chunks = []
    for block in blocks:
        lines = [markup.paragraph(markup.escape(block.title)), "", _table_text(block, markup)]
        if block.footnotes:
            lines += ["", "\n\n".join(markup.paragraph(markup.escape(n))
                                       for n in block.footnotes)]
        chunks.append("\n".join(lines))
    return "\n\n".join(chunks) + "\n"


def _render_csv(blocks: list[Block]) -> str:
    chunks = []
    for block in blocks:
        data = block.data if block.data is not None else block.table.reset_index()
        chunks.append(f"# {block.title}\n" + data.to_csv(index=False, float_format="%.4f",
                                                         lineterminator="\n"))
    return "\n".join(chunks)


def render_blocks(blocks: list[Block], fmt: str = "md") -> str:
    """Render blocks in one format; the same blocks always give the same bytes.

    Args:
        blocks: The report's blocks, in order.
        fmt: ``md``, ``csv`` (long-form numbers, one ``# title`` line per block, readable
            with ``pandas.read_csv(..., comment='#')`` per block), ``latex`` (a body
            fragment: ``tabular`` environments and paragraphs) or ``html`` (a fragment).

    Returns:
        The text, ending with a newline.
    """
    if fmt == "csv":
        return _render_csv(blocks)
    if fmt not in _MARKUPS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return _render_markup(blocks, _MARKUPS[fmt])
