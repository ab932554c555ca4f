"""Method outputs must follow the loss-key rule, or training would silently go wrong."""

from __future__ import annotations

import pytest

from benchmark.models.semi_segmentor import check_loss_keys


@pytest.mark.parametrize("key", ["sup.loss_ce", "sup.net2_loss_ce", "unsup.loss_mt",
                                 "diag.pseudo_label_acc", "sup.acc_seg", "sup.net2_acc_seg"])
def test_keys_that_follow_the_rule_pass(key):
    check_loss_keys({key: 0.0}, "M")


@pytest.mark.parametrize("key", [
    "unsup.entropy",      # summed by nothing: would train nothing
    "loss_entropy",       # no branch: would escape the unsupervised warm-up
    "diag.loss_ratio",    # would be summed into the training loss
    "diag.",              # empty name
    "aux.loss_ce",        # unknown branch
])
def test_keys_that_break_the_rule_name_the_key_and_the_rule(key):
    with pytest.raises(ValueError) as err:
        check_loss_keys({"sup.loss_ce": 0.0, key: 0.0}, "MyMethod")
    assert f"MyMethod returned the key '{key}'" in str(err.value)
    assert "'sup.loss_*' or 'unsup.loss_*'" in str(err.value)
