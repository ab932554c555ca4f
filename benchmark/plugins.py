"""The composition root: import everything the configs refer to, so MMEngine's registries
are populated.

Configs list this module in ``custom_imports``; importing it registers the datasets,
transforms, preprocessor, hooks, metric and every built-in method plugin (the ``methods``
package), plus the external ones named in ``SEMISEG_PLUGINS``. Commands call
:func:`load_all` with the plugins of ``--plugins``.
"""

from typing import Iterable

import benchmark.data  # noqa: F401
import benchmark.engine  # noqa: F401
import benchmark.evaluation  # noqa: F401
import benchmark.models  # noqa: F401
import methods  # noqa: F401
from benchmark.registry import load_plugins


def load_all(extra: Iterable[str] = ()) -> None:
    """Register the built-in components and methods, then the external plugins.

    Args:
        extra: Module names or ``.py`` paths of external plugins (besides
            ``SEMISEG_PLUGINS``).

    Raises:
        BenchmarkError: If a plugin cannot be imported.
    """
    load_plugins(extra)


load_all()
