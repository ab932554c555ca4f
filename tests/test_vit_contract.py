"""Every registered method passes the generic plugin contract on the ViT + DPT network.

The same checks as tests/test_plugin_contract.py (:data:`benchmark.contract.CHECKS`), on
timm's tiny ``test_vit`` (random init, width 64, patch 16: 4 x 4 tokens on the built-in
64 px crops), so a method that reads backbone features (UniMatch's and UniMatch V2's
feature perturbation, U2PL's representation head) is checked on both networks.
"""

from __future__ import annotations

import pytest

import benchmark.plugins  # noqa: F401  (registers every method)
from benchmark.contract import CHECKS
from benchmark.registry import registered_methods

METHODS = sorted(registered_methods())
TINY_VIT = "timm:test_vit"


@pytest.fixture(scope="module")
def vit_configs(tmp_path_factory):
    from benchmark.contract.fixtures import compose_check_config

    root = tmp_path_factory.mktemp("vit_contract")
    return {name: compose_check_config(name, root / name, backbone=TINY_VIT) for name in METHODS}


@pytest.mark.parametrize("name", METHODS)
def test_method_satisfies_contract_on_the_vit(name, vit_configs):
    cfg = vit_configs[name]
    assert cfg.model.segmentor.decode_head.type == "TimmDPTHead"
    for _, check in CHECKS:
        check(registered_methods()[name], cfg)
