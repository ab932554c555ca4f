"""Where the project's own files are: the config tree and the built-in plugins.

Everything is located relative to the installed packages, never to a repository
checkout, so a regular (non-editable) ``pip install`` finds the same files as a
development install.
"""

from pathlib import Path

#: The ``benchmark`` package folder; the configs and split lists ship inside it.
PACKAGE_ROOT = Path(__file__).resolve().parent
#: The config tree (``_base_``, ``protocols``, ``methods``), package data of ``benchmark``.
CONFIG_ROOT = PACKAGE_ROOT / "configs"
#: The package of the built-in method plugins, installed beside ``benchmark`` (same
#: distribution).
BUILTIN_METHODS_ROOT = PACKAGE_ROOT.parent / "methods"
#: The results folder (records, leaderboards, plots), relative to the working directory:
#: the commands' default ``--results-dir``; in a checkout, the repository's ``results/``.
DEFAULT_RESULTS_DIR = Path("results")
