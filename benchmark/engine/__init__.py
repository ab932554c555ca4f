"""MMEngine hooks of the suite (registered in MMSeg's ``HOOKS`` registry on import)."""

from benchmark.engine.hooks import (
                                    NonFiniteLossHook,
                                    RunProgressHook,
                                    TeacherEMAHook,
                                    TrainProgressHook,
)

__all__ = ["NonFiniteLossHook", "RunProgressHook", "TeacherEMAHook", "TrainProgressHook"]
