"""Built-in method plugins. Importing this package registers every method.

To add a method: write ``methods/<name>.py`` with a ``SemiSegmentor`` subclass decorated
by ``benchmark.registry.register_method`` and a leaf config
``benchmark/configs/methods/<name>.py``, then add its import below (or load it from
outside with ``--plugins``).
"""

from methods import (  # noqa: F401
    cps,
    cutmix_seg,
    dars,
    fixmatch,
    mean_teacher,
    random_noise,
    sop,
    supervised,
    u2pl,
    unimatch,
    unimatch_sop,
    unimatch_v2,
    upc,
)
