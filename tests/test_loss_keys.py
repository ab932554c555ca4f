"""Method outputs must follow the loss-key rule and be scalars, or training goes silently wrong."""

from __future__ import annotations

import pytest
import torch

from benchmark.models.semi_segmentor import check_loss_keys, check_loss_terms, check_loss_values


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


@pytest.mark.parametrize("value", [0.5, 2, torch.tensor(0.5), torch.tensor([0.5])])
def test_scalar_values_pass(value):
    check_loss_values({"sup.loss_ce": value}, "M")


@pytest.mark.parametrize(("value", "found"), [
    (torch.ones(4), "a tensor of shape [4]"),            # per-sample: would be averaged
    (torch.ones(2, 8, 8), "a tensor of shape [2, 8, 8]"),  # per-pixel map
    (torch.ones(0), "a tensor of shape [0]"),             # mean of nothing is NaN
    ([torch.tensor(1.0), torch.tensor(2.0)], "a list"),   # MMEngine would sum it
])
def test_non_scalar_values_name_the_key_and_the_shape(value, found):
    with pytest.raises(ValueError) as err:
        check_loss_terms({"sup.loss_ce": torch.tensor(0.0), "unsup.loss_pseudo": value},
                         "MyMethod")
    assert str(err.value) == (
        f"MyMethod returned 'unsup.loss_pseudo' as {found}; every output must be a scalar: "
        "reduce it in the method (e.g. .mean() over the batch)")


def test_a_run_whose_loss_is_per_sample_fails_at_its_first_step(tmp_path, monkeypatch, capsys):
    import benchmark.plugins  # noqa: F401
    from benchmark.cli import main
    from benchmark.registry import registered_methods

    info = registered_methods()["supervised"]
    original = info.cls.compute_losses

    def per_sample(self, batch):
        losses = original(self, batch)
        losses["sup.loss_ce"] = losses["sup.loss_ce"].expand(len(batch.labeled))
        return losses

    monkeypatch.setattr(info.cls, "compute_losses", per_sample)
    code = main(["run", "--methods", "supervised", "--iters", "2", "--jobs", "1",
                 "--results-dir", str(tmp_path / "results"), "--work-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 1
    assert (f"failed: ValueError: {info.cls.__name__} returned 'sup.loss_ce' as a tensor of "
            "shape [") in err
    assert "every output must be a scalar" in err
    assert not list((tmp_path / "results").glob("runs/*.json"))
