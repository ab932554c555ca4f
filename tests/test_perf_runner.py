"""``perf runner``: the per-iteration breakdown of a Runner run against a bare loop."""

from __future__ import annotations

import re

from benchmark.cli import main
from benchmark.perf.runner_breakdown import schedule_events

PHASES = ["data loading", "forward", "backward", "optimiser step", "hooks",
          "checkpoint saves", "validation", "loop", "iteration"]


def test_schedule_events_count_a_runs_validations_and_saves():
    # the built-in protocol: validation and resume checkpoints every 400 of 2000 iterations
    assert schedule_events(2000, 400, 400) == {"iters": 2000, "validations": 5, "saves": 5}
    # a last validation after an iteration count that is not a multiple of the interval
    assert schedule_events(2100, 400, 400) == {"iters": 2100, "validations": 6, "saves": 6}
    assert schedule_events(3, 1, 1) == {"iters": 3, "validations": 3, "saves": 3}


def _table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 6 and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = cells[1:]
    return rows


def test_runner_breakdown_on_three_iterations(capsys):
    assert main(["perf", "runner", "--method", "supervised", "--iters", "3", "--warmup", "1",
                 "--num-workers", "0", "--pretrained", "none"]) == 0
    out = capsys.readouterr().out
    assert "2 timed iterations after 1 warm-up, num_workers 0" in out
    rows = _table_rows(out)
    labels = [label for label in rows if label != "phase"]
    assert [next(p for p in PHASES if label.startswith(p)) for label in labels] == PHASES
    # 3 iterations, validation and a resume checkpoint after each: the 2 timed iterations
    # see 3 validations and 3 saves (resume checkpoints at 1 and 2, the final one)
    assert any(label.startswith("checkpoint saves (3 x") for label in labels)
    assert any(label.startswith("validation (3 x") for label in labels)
    for column in (0, 3):  # Runner wall-clock and CPU ms per iteration
        runner_ms = {label: float(cells[column]) for label, cells in rows.items()
                     if label != "phase"}
        assert all(ms >= 0 for ms in runner_ms.values()), runner_ms  # no phase counted twice
        total = runner_ms.pop("iteration")
        assert abs(sum(runner_ms.values()) - total) <= 0.1 * len(runner_ms)
    assert rows["iteration"][1] == "100.0%"
    runner_total, bare_total = float(rows["iteration"][0]), float(rows["iteration"][2])
    figures = r"wall ([\d.]+) / ([\d.]+) ms = ([\d.]+)x, CPU ([\d.]+) / ([\d.]+) ms = ([\d.]+)x"
    ratio = re.search(r"Runner iteration / bare iteration: " + figures, out)
    assert ratio and float(ratio[1]) == runner_total and float(ratio[2]) == bare_total
    assert abs(float(ratio[3]) - runner_total / bare_total) <= 0.01 * float(ratio[3]) + 0.01
    assert re.search(r"model step \(forward, backward, optimiser step\) Runner / bare: " + figures,
                     out)
    assert re.search(r"default schedule \(2000 iterations, 5 validations, 5 checkpoint saves\) "
                     r"Runner iteration / bare: " + figures, out)
    assert re.search(r"IterTimerHook means: data_time [\d.]+ ms .* time [\d.]+ ms", out)
    assert "yapf calls while the Runner ran: 0" in out
