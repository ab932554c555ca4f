"""``run --dry-run`` plans a real-protocol sweep on a machine without its data or weights."""

from __future__ import annotations

from benchmark.cli import main

RUN = ["run", "--methods", "supervised,unimatch", "--protocol", "pascal", "--split", "1_8"]


def test_dry_run_without_data_plans_with_warnings_and_a_real_run_stops(tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.setenv("SEMISEG_PASCAL_ROOT", str(tmp_path / "no_voc"))
    monkeypatch.setenv("SEMISEG_PRETRAINED_DIR", str(tmp_path / "no_weights"))
    where = ["--results-dir", str(tmp_path / "results"), "--work-dir", str(tmp_path / "work")]
    assert main([*RUN, *where, "--dry-run"]) == 0
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2  # one per missing input, not one per run
    assert f"dataset folder {tmp_path / 'no_voc'} for protocol 'pascal' not found" in warnings[0]
    assert "resnet101.pth" in warnings[1] and warnings[1].endswith(
        "(planned without it; `run` without --dry-run stops here)")
    assert "[1/2] supervised pascal/1_8 seed 0  config ????????  would train" in out
    assert ("network [1,2]: decode head OfficialDeepLabV3PlusHead 16,844,149 parameters, "
            "backbone ResNetV1c 42,623,936") in out
    assert "checkpoint is not on this machine" in out

    assert main([*RUN, *where]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors and all(line.startswith("error: ") for line in errors)
    assert any("not found" in line for line in errors)
    assert not (tmp_path / "results" / "runs").exists()
