"""MMEngine hooks of the suite (registered in MMSeg's ``HOOKS`` registry on import)."""

from benchmark.engine.hooks import (
                                    NonFiniteLossHook,
                                    RunProgressHook,
                                    TeacherEMAHook,
                                    TrainProgressHook,
)
from benchmark.engine.weight_average import WeightAverageHook, WeightAverageValLoop

__all__ = ["NonFiniteLossHook", "RunProgressHook", "TeacherEMAHook", "TrainProgressHook",
           "WeightAverageHook", "WeightAverageValLoop"]
