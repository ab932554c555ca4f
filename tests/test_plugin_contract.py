"""Generic contract every registered method plugin must satisfy (parametrized, timm-style).

A new method is covered as soon as it is registered. The checks themselves live in
:mod:`benchmark.contract.checks` (one implementation, also run by ``python -m benchmark
check-plugin``): it builds from its config on the built-in protocol, its losses are finite
and well named, its unsupervised loss sends gradient to the student, the optimiser and the
gradient leave the teacher alone, the teacher stays in its declared mode, the hidden ground
truth of unlabeled images cannot change any loss, and prediction works.
"""

from __future__ import annotations

import pytest

import benchmark.plugins  # noqa: F401  (registers every method)
from benchmark.contract import CHECKS, ContractViolation
from benchmark.contract.checks import check_losses_finite_and_named
from benchmark.registry import registered_methods
from tests.conftest import build_run_config

METHODS = sorted(registered_methods())


def test_registry_has_reference_methods():
    assert {"supervised", "meanteacher"} <= set(METHODS)


@pytest.mark.parametrize("check", [check for _, check in CHECKS],
                         ids=[name.replace(" ", "_") for name, _ in CHECKS])
@pytest.mark.parametrize("name", METHODS)
def test_method_satisfies_contract(name, check, tmp_path):
    check(registered_methods()[name], build_run_config(name, tmp_path))


def test_a_bad_loss_key_violates_the_contract(tmp_path, monkeypatch):
    info = registered_methods()["supervised"]
    original = info.cls.compute_losses

    def renamed(self, batch):
        losses = original(self, batch)
        losses["sup.ce"] = losses.pop("sup.loss_ce")
        return losses

    monkeypatch.setattr(info.cls, "compute_losses", renamed)
    with pytest.raises(ContractViolation, match="returned the key 'sup.ce'"):
        check_losses_finite_and_named(info, build_run_config("supervised", tmp_path))



def test_a_per_sample_loss_violates_the_contract(tmp_path, monkeypatch):
    info = registered_methods()["supervised"]
    original = info.cls.compute_losses

    def per_sample(self, batch):
        losses = original(self, batch)
        losses["sup.loss_ce"] = losses["sup.loss_ce"].expand(len(batch.labeled))
        return losses

    monkeypatch.setattr(info.cls, "compute_losses", per_sample)
    cfg = build_run_config("supervised", tmp_path)
    with pytest.raises(ContractViolation, match=r"returned 'sup.loss_ce' as a tensor of shape "
                                                r"\[\d+\]; every output must be a scalar"):
        check_losses_finite_and_named(info, cfg)
