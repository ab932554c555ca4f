"""Probe (not part of the package): evaluate stored final checkpoints on val[0:200] and on a 1000-image validation set."""
import json, sys, os
from pathlib import Path
import torch
torch.set_num_threads(1)
from mmengine.config import Config
from mmengine.runner import Runner
from benchmark.engine.resume import CHECKPOINT_GLOBALS
import benchmark.plugins as plugins
from benchmark.synthetic.spec import SyntheticSpec
from benchmark.synthetic.materialize import materialize, default_root

plugins.load_all()
nval = int(os.environ.get("NVAL", 1000))
spec = SyntheticSpec(num_val=nval)
root = materialize(default_root(spec), spec)
(root / "splits" / "val200.txt").write_text("".join((root / "splits" / "val.txt").read_text().splitlines(True)[:200]))
out = {}
for wd in sys.argv[1:]:
    wd = Path(wd)
    cfgfile = next(wd.glob("synthetic*.py"))
    res = {}
    for name in ("val200.txt", "val.txt"):
        cfg = Config.fromfile(str(cfgfile))
        cfg.test_dataloader.dataset.data_root = str(root)
        cfg.test_dataloader.dataset.split_lists = [str(root / "splits" / name)]
        cfg.test_dataloader.num_workers = 0
        cfg.test_dataloader.persistent_workers = False
        cfg.load_from = str(wd / "iter_2000.pth")
        cfg.work_dir = f"/tmp/probe/wd/{wd.name}"
        cfg.log_level = "WARNING"
        runner = Runner.from_cfg(cfg)
        with torch.serialization.safe_globals(CHECKPOINT_GLOBALS):
            m = runner.test()
        res[name] = {k: v for k, v in m.items()}
    out[wd.name] = res
    print(wd.name, round(res["val200.txt"]["mIoU"], 2), round(res["val.txt"]["mIoU"], 2), flush=True)
Path(os.environ.get("OUT", "/tmp/probe/out.json")).write_text(json.dumps(out, indent=1))
