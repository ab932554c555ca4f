"""``python -m benchmark perf``: speed benchmarks that print measured figures and ratios."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "perf", help="speed benchmarks (e.g. the batched Sinkhorn solver vs POT)",
        description="Time components on SOP-shaped inputs and print figures and ratios.")
    parser.add_argument("target", choices=["sinkhorn", "methods", "sop-overhead"],
                        help="sinkhorn: batched solver vs a POT loop at the Pascal shape; "
                        "methods: training-step time of --methods side by side; "
                        "sop-overhead: sop training step with tau=0.25 vs tau=0 "
                        "(built-in protocol)")
    parser.add_argument("--batch", type=int, default=8, help="unlabeled batch size")
    parser.add_argument("--crop", type=int, default=321, help="crop size")
    parser.add_argument("--classes", type=int, default=21, help="number of classes")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--methods", default="supervised,meanteacher",
                        help="methods target: comma list, the first is the reference")
    parser.add_argument("--steps", type=int, default=20,
                        help="methods and sop-overhead targets: timed steps")
    parser.add_argument("--warmup", type=int, default=3,
                        help="sop-overhead target: untimed steps first")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.target == "sop-overhead":
        from benchmark.perf.sop_overhead import format_sop_overhead_report, run_sop_overhead

        print(format_sop_overhead_report(run_sop_overhead(steps=args.steps, warmup=args.warmup)))
        return 0
    if args.target == "methods":
        from benchmark.perf.step_timing import format_step_timings, time_training_steps

        names = [m.strip() for m in args.methods.split(",") if m.strip()]
        timings = [time_training_steps(name, steps=args.steps) for name in names]
        print(format_step_timings(timings))
        return 0
    from benchmark.perf.sinkhorn_bench import format_sinkhorn_report, run_sinkhorn_benchmark

    result = run_sinkhorn_benchmark(batch=args.batch, crop=args.crop, num_classes=args.classes,
                                    repeats=args.repeats, device=args.device)
    print(format_sinkhorn_report(result))
    return 0
