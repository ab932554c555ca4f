"""Evaluation of an average of the weights (Polyak averaging), beside the raw weights.

A protocol setting (``eval_weight_average``), the same for every method: the evaluated
network is an exponential moving average of the model's weights and buffers, kept by
MMEngine's ``EMAHook`` (which swaps it in for validation and stores it in checkpoints).
What MMEngine lacks, written here: a validation loop that evaluates both the average and
the raw weights in one pass of the schedule, so that a record carries the averaged
number (``mIoU``) and the one the raw weights give (``raw.mIoU``) from the same training.
"""

from __future__ import annotations

from contextlib import contextmanager

from mmengine.hooks import EMAHook
from mmengine.runner import ValLoop
from mmseg.registry import HOOKS, LOOPS

RAW_PREFIX = "raw."


@HOOKS.register_module()
class WeightAverageHook(EMAHook):
    """MMEngine's ``EMAHook`` with a public way to evaluate the raw weights.

    Args:
        momentum: Weight of the newest weights in each update, ``avg = (1 - m) avg + m w``
            (MMEngine's convention); the average's time constant is ``1 / m`` iterations.
        **kwargs: Passed to ``EMAHook`` (e.g. ``update_buffers``).
    """

    def __init__(self, momentum: float = 0.01, **kwargs) -> None:
        super().__init__(momentum=momentum, **kwargs)
        self.momentum = momentum

    @contextmanager
    def raw_weights(self):
        """Inside validation (average swapped in), put the raw weights back meanwhile."""
        self._swap_ema_parameters()
        try:
            yield
        finally:
            self._swap_ema_parameters()


@LOOPS.register_module()
class WeightAverageValLoop(ValLoop):
    """Validate the averaged weights, then the raw ones; report both in one metrics dict.

    The averaged weights' metrics keep their names (``mIoU``, ``IoU.<class>``), the raw
    weights' get the prefix ``raw.``. Without a :class:`WeightAverageHook` registered it is
    MMEngine's ``ValLoop``.
    """

    def run(self) -> dict:
        average = next((hook for hook in self.runner.hooks
                        if isinstance(hook, WeightAverageHook)), None)
        if average is None:
            return super().run()
        self.runner.call_hook("before_val")
        self.runner.call_hook("before_val_epoch")  # the hook swaps the average in
        self.runner.model.eval()
        metrics = self._evaluate()
        with average.raw_weights():
            raw = self._evaluate()
        metrics.update({f"{RAW_PREFIX}{key}": value for key, value in raw.items()})
        self.runner.call_hook("after_val_epoch", metrics=metrics)
        self.runner.call_hook("after_val")
        return metrics

    def _evaluate(self) -> dict:
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        return self.evaluator.evaluate(len(self.dataloader.dataset))
