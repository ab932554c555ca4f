"""``--cfg-options``: parse ``[method:][+]key=value`` overrides and check them against a config.

* ``key=value`` reaches every run; ``method:key=value`` only the runs of ``method`` (it wins
  over a plain option on the same key).
* ``key`` must exist in the run's composed config, or be a constructor parameter of the
  method's class (``model.<param>``); ``+key=value`` adds a key the config does not have.
* ``value`` is read as a Python literal when possible, else as text, and must have the
  type of the value it replaces (an int is accepted for a float; a ``None`` default takes
  anything).

A run's options are stored in its :class:`~benchmark.runs.spec.RunSpec` as
``{key: value}`` without the method prefix, ``+`` kept, so the record shows what was
asked for and the config hash covers it.
"""

from __future__ import annotations

import ast
import difflib
import inspect
from dataclasses import dataclass

from benchmark.errors import BenchmarkError

NEW_KEY_PREFIX = "+"
_MISSING = object()


@dataclass(frozen=True)
class CfgOption:
    """One ``--cfg-options`` entry.

    Attributes:
        key: Dotted config key, with a leading ``+`` if it declares a new key.
        value: The parsed value.
        method: The only method it reaches, or None for every method.
    """

    key: str
    value: object
    method: str | None = None


def parse_cfg_options(texts: list[str]) -> list[CfgOption]:
    """Parse ``[method:][+]key=value`` entries.

    Raises:
        BenchmarkError: For an entry without ``=`` or with an empty key or method.
    """
    options = []
    for text in texts:
        target, sep, raw = text.partition("=")
        method, colon, key = target.rpartition(":")
        if not sep or not key.lstrip(NEW_KEY_PREFIX) or (colon and not method):
            raise BenchmarkError(f"--cfg-options expects [METHOD:]KEY=VALUE, got '{text}'")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        options.append(CfgOption(key, value, method or None))
    return options


def unknown_method_problems(options: list[CfgOption], methods: list[str]) -> list[str]:
    """One line per option addressed to a method that is not in ``--methods``."""
    return [f"--cfg-options {o.method}:{o.key}: method '{o.method}' is not in --methods "
            f"({', '.join(methods)})" for o in options if o.method and o.method not in methods]


def options_for(options: list[CfgOption], method: str) -> dict:
    """The ``{key: value}`` overrides that reach ``method`` (its own ones win)."""
    merged = {o.key: o.value for o in options if o.method is None}
    merged.update({o.key: o.value for o in options if o.method == method})
    return merged


def strip_new_key_markers(options: dict) -> dict:
    """``options`` as MMEngine merges them: the ``+`` of new keys removed."""
    return {key.lstrip(NEW_KEY_PREFIX): value for key, value in options.items()}


def option_problems(cfg, options: dict, model_class: type, method: str) -> list[str]:
    """Check ``options`` against the composed config ``cfg`` before they are merged.

    Args:
        cfg: The run's config before the options (MMEngine ``Config`` or dict).
        options: ``{key: value}`` of the run (``+`` marks a new key).
        model_class: The method's segmentor class; its constructor parameters are valid
            ``model.<param>`` keys even where the config does not set them.
        method: The method name, for the messages.

    Returns:
        One line per problem: an unknown key (with the nearest known key, if any) or a
        value whose type differs from the default's.
    """
    problems = []
    root = cfg.to_dict() if hasattr(cfg, "to_dict") else cfg
    parameters = constructor_defaults(model_class)
    for key, value in options.items():
        if key.startswith(NEW_KEY_PREFIX):
            continue
        default, siblings = _lookup(root, key.split("."))
        if default is _MISSING and key.startswith("model.") and key.count(".") == 1:
            default = parameters.get(key[len("model."):], _MISSING)
            siblings = [*siblings, *parameters]
        if default is _MISSING:
            parent = key.rpartition(".")[0]
            close = difflib.get_close_matches(key.rpartition(".")[2], siblings, n=1)
            hint = f" (did you mean {parent + '.' if parent else ''}{close[0]}?)" if close else ""
            problems.append(f"--cfg-options {key}: no such key in the config of '{method}'"
                            f"{hint}; prefix a deliberately new key with '+' (+{key}=...)")
        elif not _same_type(value, default):
            problems.append(f"--cfg-options {key}: got {type(value).__name__} {value!r}, "
                            f"expected {type(default).__name__} (default {default!r})")
    return problems


def constructor_defaults(cls: type) -> dict:
    """Keyword parameters (with their defaults, ``None`` if required) of ``cls``'s constructors.

    Parameters of every class in the hierarchy count, since subclasses pass ``**kwargs``
    on to their base, except those the class lists in ``unused_hyperparameters``.
    """
    defaults: dict = {}
    for klass in reversed(cls.__mro__):
        if "__init__" not in vars(klass) or klass.__module__.startswith(("torch.", "mmengine.")):
            continue
        for name, param in inspect.signature(klass.__init__).parameters.items():
            if name != "self" and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                empty = param.default is inspect.Parameter.empty
                defaults[name] = None if empty else param.default
    for name in getattr(cls, "unused_hyperparameters", ()):
        defaults.pop(name, None)
    return defaults


def _lookup(node, parts: list[str]) -> tuple[object, list[str]]:
    """The value at ``parts`` (or ``_MISSING``) and the keys beside the last part found."""
    for part in parts:
        if isinstance(node, dict) and part in node:
            siblings, node = list(node), node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            siblings, node = [], node[int(part)]
        else:
            return _MISSING, list(node) if isinstance(node, dict) else []
    return node, siblings


def _same_type(value: object, default: object) -> bool:
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    if isinstance(default, dict):
        return isinstance(value, dict)
    return isinstance(value, type(default))
