"""Import everything the configs refer to, so MMEngine registries are populated.

Configs list this module in ``custom_imports``; importing it registers the datasets,
transforms, preprocessor, hooks, metric and every built-in method plugin (plus any
external ones named in ``SEMISEG_PLUGINS``).
"""

import benchmark.data  # noqa: F401
import benchmark.engine  # noqa: F401
import benchmark.evaluation  # noqa: F401
import benchmark.models  # noqa: F401
from benchmark.registry import load_plugins

load_plugins()
