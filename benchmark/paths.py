"""Where the project's own files are: the repository root and the config tree."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_ROOT = PROJECT_ROOT / "configs"
#: The package of the built-in method plugins.
BUILTIN_METHODS_ROOT = PROJECT_ROOT / "methods"
