"""MMEngine hooks of the suite (registered in MMSeg's ``HOOKS`` registry on import)."""

from benchmark.engine.hooks import NonFiniteLossHook, RunProgressHook, TeacherEMAHook

__all__ = ["NonFiniteLossHook", "RunProgressHook", "TeacherEMAHook"]
