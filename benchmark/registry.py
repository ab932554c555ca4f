"""Method plugin registry.

A method plugin is a :class:`~benchmark.models.SemiSegmentor` subclass decorated with
:func:`register_method`. The decorator registers the class in MMSegmentation's
``MODELS`` registry (so configs build it with ``type=<ClassName>``) and records the
method's metadata for ``python -m benchmark list`` and the runner.

Built-in plugins live in the top-level ``methods`` package (imported by the composition
root :mod:`benchmark.plugins`, not here); external plugins are loaded from module names or
``.py`` paths given by ``--plugins`` or the ``SEMISEG_PLUGINS`` environment variable
(comma separated). An external plugin's config sits beside its file
(``<name>_config.py`` by default) and the SHA-256 of its source enters every run's config
hash, so an edited plugin is never mistaken for a finished run.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from benchmark.errors import BenchmarkError
from benchmark.paths import BUILTIN_METHODS_ROOT, CONFIG_ROOT


@dataclass(frozen=True)
class MethodInfo:
    """Metadata of a registered method.

    Attributes:
        name: CLI name, e.g. ``"meanteacher"``.
        cls: The segmentor class implementing the method.
        description: One line describing the method.
        paper: Citation of the paper (and code) the implementation follows.
        config: Path of the method's leaf config.
        needs_unlabeled: Whether the method trains on unlabeled images.
        hyperparameters: Constructor keyword defaults the method adds to the base.
        source_sha256: SHA-256 of an external plugin's source (its file, or every ``.py``
            file of its top-level package); None for the built-in methods.
    """

    name: str
    cls: type
    description: str
    paper: str
    config: Path
    needs_unlabeled: bool = True
    hyperparameters: dict = field(default_factory=dict)
    source_sha256: str | None = None


_METHODS: dict[str, MethodInfo] = {}

# A name appears in file names, table cells (Markdown, LaTeX, HTML, CSV) and --methods lists.
METHOD_NAME = re.compile(r"[A-Za-z0-9_]+")


def check_method_name(name: object) -> None:
    """Reject a method name that is not letters, digits and underscores.

    Args:
        name: The name given to :func:`register_method`.

    Raises:
        BenchmarkError: One line naming the rule and a name that follows it.
    """
    if isinstance(name, str) and METHOD_NAME.fullmatch(name):
        return
    suggestion = re.sub(r"[^A-Za-z0-9_]+", "_", str(name)).strip("_") or "my_method"
    raise BenchmarkError(
        f"method name {name!r} is not allowed: a method name is letters, digits and '_' "
        f"only ([A-Za-z0-9_]+; it names record files and table cells); rename it, e.g. "
        f"'{suggestion}'")


def _own_hyperparameters(cls: type) -> dict:
    """Keyword defaults of the method's constructors, without the harness base's own.

    Parameters declared by library classes (the ``SemiSegmentor`` base, MMSeg, MMEngine,
    torch) are left out, and so are those the class lists in ``unused_hyperparameters``
    (inherited settings it never reads); those of every method class in the hierarchy are
    kept.
    """
    library = ("benchmark.", "mmseg.", "mmengine.", "torch.")
    hyperparameters: dict = {}
    for klass in reversed(cls.__mro__):
        if "__init__" not in vars(klass) or klass.__module__.startswith(library):
            continue
        for name, param in inspect.signature(klass.__init__).parameters.items():
            if param.default is not inspect.Parameter.empty:
                hyperparameters[name] = param.default
    unused = getattr(cls, "unused_hyperparameters", ())
    return {k: v for k, v in hyperparameters.items() if k not in unused}


def register_method(
    name: str,
    *,
    description: str,
    paper: str,
    config: str | Path | None = None,
    needs_unlabeled: bool = True,
) -> Callable[[type], type]:
    """Class decorator that registers a method plugin.

    Args:
        name: CLI name of the method: letters, digits and ``_`` only (checked).
        description: One line describing the method.
        paper: Citation of the paper the implementation follows.
        config: Leaf config path. For a built-in method (in the ``methods`` package) a
            relative path is resolved against the config tree ``benchmark/configs/``
            and the default is ``benchmark/configs/methods/<name>.py``; for an external
            plugin a relative path is resolved against the folder of the plugin's file
            and the default is ``<name>_config.py`` beside that file.
        needs_unlabeled: False for methods trained on labeled data only.

    Returns:
        The decorator, which returns the class unchanged.

    Raises:
        BenchmarkError: If ``name`` is not letters, digits and ``_``.
    """
    from mmseg.registry import MODELS

    check_method_name(name)

    def decorator(cls: type) -> type:
        if name in _METHODS and _METHODS[name].cls is not cls:
            raise BenchmarkError(
                f"method name '{name}' is registered twice ({_METHODS[name].cls.__module__} "
                f"and {cls.__module__}); rename one of them"
            )
        if MODELS.get(cls.__name__) is not cls:
            MODELS.register_module(module=cls)
        source = Path(inspect.getfile(cls)).resolve()
        builtin = source.is_relative_to(BUILTIN_METHODS_ROOT)
        if builtin:
            path = CONFIG_ROOT / (config or Path("methods") / f"{name}.py")
        else:
            path = source.parent / (config or f"{name}_config.py")
        _METHODS[name] = MethodInfo(
            name=name,
            cls=cls,
            description=description,
            paper=paper,
            config=path,
            needs_unlabeled=needs_unlabeled,
            hyperparameters=_own_hyperparameters(cls),
            source_sha256=None if builtin else plugin_source_sha256(cls),
        )
        return cls

    return decorator


def plugin_source_sha256(cls: type) -> str:
    """SHA-256 of the source a plugin class comes from.

    A stand-alone module (e.g. a file given to ``--plugins``): the SHA-256 of its file. A
    module inside a package: the SHA-256 over every ``.py`` file of its top-level package
    (relative path and content of each, in sorted order).
    """
    module_file = Path(sys.modules[cls.__module__].__file__).resolve()
    top = sys.modules.get(cls.__module__.split(".")[0])
    if "." not in cls.__module__ or not getattr(top, "__path__", None):
        return hashlib.sha256(module_file.read_bytes()).hexdigest()
    root = Path(top.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def load_plugins(extra: Iterable[str] = ()) -> None:
    """Import external plugins (the built-in ones come with :mod:`benchmark.plugins`).

    Args:
        extra: Module names or ``.py`` file paths of external plugins, in addition to
            those in the ``SEMISEG_PLUGINS`` environment variable.

    Raises:
        BenchmarkError: If a plugin cannot be imported.
    """
    env = [p for p in os.environ.get("SEMISEG_PLUGINS", "").split(",") if p.strip()]
    for spec in [*env, *extra]:
        _import_plugin(spec.strip())


def _import_plugin(spec: str) -> None:
    try:
        if spec.endswith(".py"):
            path = Path(spec).resolve()
            if not path.is_file():
                raise BenchmarkError(f"plugin file {path} does not exist; check --plugins")
            module_name = f"semiseg_plugin_{path.stem}"
            if module_name in sys.modules:
                return
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            module_spec.loader.exec_module(module)
        else:
            importlib.import_module(spec)
    except BenchmarkError:
        raise
    except Exception as err:  # noqa: BLE001 - report any plugin failure on one line
        raise BenchmarkError(f"cannot import plugin '{spec}': {err!r}") from err


def registered_methods() -> dict[str, MethodInfo]:
    """Return the registered methods by name (plugins must be loaded first)."""
    return dict(sorted(_METHODS.items()))


def get_method(name: str) -> MethodInfo:
    """Return a registered method or raise an error listing the valid names."""
    if name not in _METHODS:
        valid = ", ".join(sorted(_METHODS))
        raise BenchmarkError(f"unknown method '{name}'; valid methods: {valid}")
    return _METHODS[name]
