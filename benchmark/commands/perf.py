"""``python -m benchmark perf``: speed benchmarks that print measured figures and ratios."""

from __future__ import annotations

import argparse

SOP_WARMUP = 3
RUNNER_WARMUP = 10


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "perf", help="speed benchmarks (e.g. the batched Sinkhorn solver vs POT)",
        description="Time components on SOP-shaped inputs and print figures and ratios.")
    parser.add_argument("target", choices=["sinkhorn", "methods", "sop-overhead", "runner"],
                        help="sinkhorn: batched solver vs a POT loop at the Pascal shape; "
                        "methods: training-step time of --methods (on each of --backbones) "
                        "side by side; "
                        "sop-overhead: sop training step with tau=0.25 vs tau=0 "
                        "(built-in protocol); runner: where a Runner training iteration of "
                        "--method spends its time (data, forward, backward, optimiser, "
                        "hooks, checkpoints, validation) against a bare loop on the same "
                        "batches (built-in protocol)")
    parser.add_argument("--batch", type=int, default=8, help="unlabeled batch size")
    parser.add_argument("--crop", type=int, default=321, help="crop size")
    parser.add_argument("--classes", type=int, default=21, help="number of classes")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--methods", default="supervised,meanteacher",
                        help="methods target: comma list, the first is the reference")
    parser.add_argument("--backbones", default="protocol",
                        help="methods target: comma list of --backbone values, each method "
                        "timed on each; 'protocol' = the protocol's network (e.g. "
                        "'protocol,timm:test_vit')")
    parser.add_argument("--steps", type=int, default=20,
                        help="methods and sop-overhead targets: timed steps")
    parser.add_argument("--warmup", type=int, default=None,
                        help="sop-overhead and runner targets: untimed steps first "
                        f"(default {SOP_WARMUP} and {RUNNER_WARMUP})")
    parser.add_argument("--method", default="supervised", help="runner target: the method")
    parser.add_argument("--iters", type=int, default=200,
                        help="runner target: the run's schedule (validation and checkpoints "
                        "every iters/5, as in a run)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="runner target: loader workers (default: the protocol's)")
    parser.add_argument("--pretrained", default=None,
                        help="runner target: --pretrained of the run (default: the protocol's)")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.target == "runner":
        from benchmark.engine.library_warnings import library_warnings_to_run_log
        from benchmark.perf.runner_breakdown import format_runner_breakdown, run_runner_breakdown

        warmup = RUNNER_WARMUP if args.warmup is None else args.warmup
        with library_warnings_to_run_log():
            result = run_runner_breakdown(args.method, iters=args.iters, warmup=warmup,
                                          num_workers=args.num_workers,
                                          pretrained=args.pretrained)
        print(format_runner_breakdown(result, warmup))
        return 0
    if args.target == "sop-overhead":
        from benchmark.perf.sop_overhead import format_sop_overhead_report, run_sop_overhead

        warmup = SOP_WARMUP if args.warmup is None else args.warmup
        print(format_sop_overhead_report(run_sop_overhead(steps=args.steps, warmup=warmup)))
        return 0
    if args.target == "methods":
        from benchmark.perf.step_timing import format_step_timings, time_training_steps

        names = [m.strip() for m in args.methods.split(",") if m.strip()]
        backbones = [None if b.strip() == "protocol" else b.strip()
                     for b in args.backbones.split(",") if b.strip()]
        timings = [time_training_steps(name, steps=args.steps, backbone=backbone)
                   for name in names for backbone in backbones]
        print(format_step_timings(timings))
        return 0
    from benchmark.perf.sinkhorn_bench import format_sinkhorn_report, run_sinkhorn_benchmark

    result = run_sinkhorn_benchmark(batch=args.batch, crop=args.crop, num_classes=args.classes,
                                    repeats=args.repeats, device=args.device)
    print(format_sinkhorn_report(result))
    return 0
