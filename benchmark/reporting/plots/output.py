"""Writing figures as PNG and SVG with reproducible bytes."""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

matplotlib.use("Agg")  # files only; figures are never shown

SVG_HASH_SALT = "semiseg-bench"
# Up to 20 methods without repeats: tab20's ten dark hues first, then their light pairs,
# so that up to ten series all differ in hue.
_TAB20 = matplotlib.colormaps["tab20"].colors
SERIES_COLOURS = _TAB20[0::2] + _TAB20[1::2]


def new_figure(width: float = 6.4, height: float = 4.0) -> tuple[Figure, Axes]:
    """A figure outside pyplot's global state, and its axes."""
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots()
    axes.set_prop_cycle(color=SERIES_COLOURS)
    return figure, axes


def new_grid(width: float, height: float, nrows: int, ncols: int) -> tuple[Figure, list[Axes]]:
    """A figure outside pyplot's global state with a grid of panels, listed row by row."""
    figure = Figure(figsize=(width, height), layout="constrained")
    panels = list(figure.subplots(nrows, ncols, squeeze=False).ravel())
    for axes in panels:
        axes.set_prop_cycle(color=SERIES_COLOURS)
    return figure, panels


def label_axes(axes: Axes, xlabel: str, ylabel: str, title: str, legend_outside: bool = True,
               grid: bool = True) -> None:
    """Axis labels, title, a light grid and the legend (right of the axes by default)."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize="medium" if legend_outside else "small")
    if grid:
        axes.grid(True, alpha=0.3)
    if legend_outside:
        axes.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    else:
        axes.legend(fontsize="x-small")


def save_figure(figure: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.svg`` into ``out_dir`` and return their paths.

    Dates and random ids are left out of the files, so the same figure gives the same
    SVG bytes.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT}):
        for suffix, metadata in (("png", {"Software": None}), ("svg", {"Date": None})):
            path = out_dir / f"{stem}.{suffix}"
            figure.savefig(path, metadata=metadata, dpi=120)
            paths.append(path)
    return paths
