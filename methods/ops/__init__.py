"""Pure tensor operators shared by method plugins (no MMEngine / MMSeg imports)."""

from methods.ops.random_noise import random_noise_perturb
from methods.ops.sinkhorn import (
    SinkhornInfo,
    allocation_histogram,
    potential_labels,
    sinkhorn_plan,
    sinkhorn_reallocate,
    solve_potential,
)
from methods.ops.sop_perturbation import (
    PatchLayout,
    SOPResult,
    build_patch_layout,
    gather_patches,
    gt_class_histogram,
    oracle_target,
    patch_bounds,
    patch_id_map,
    sample_beta,
    sample_interpolation_weight,
    scatter_patches,
    softmax_mining_histogram,
    sop_perturb,
    sop_target_distribution,
)

__all__ = [
    "PatchLayout",
    "SOPResult",
    "SinkhornInfo",
    "allocation_histogram",
    "build_patch_layout",
    "gather_patches",
    "gt_class_histogram",
    "oracle_target",
    "patch_bounds",
    "patch_id_map",
    "potential_labels",
    "random_noise_perturb",
    "sample_beta",
    "sample_interpolation_weight",
    "scatter_patches",
    "sinkhorn_plan",
    "sinkhorn_reallocate",
    "softmax_mining_histogram",
    "solve_potential",
    "sop_perturb",
    "sop_target_distribution",
]
