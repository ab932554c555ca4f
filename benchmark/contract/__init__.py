"""The generic contract of a method plugin: checks shared by the tests and ``check-plugin``."""

from benchmark.contract.checks import CHECKS, ContractViolation, Verdict, run_checks
from benchmark.contract.fixtures import build_model, compose_check_config, real_batch

__all__ = ["CHECKS", "ContractViolation", "Verdict", "build_model", "compose_check_config",
           "real_batch", "run_checks"]
