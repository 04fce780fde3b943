"""Run notebooks in a profile and store their outputs, the way readers see them; record how long each took.

    python tools/run_notebook.py nbs/40_rnn.ipynb [more.ipynb ...] [--profile cpu]

Each notebook runs in place (nbconvert, the `prodtags` kernel, progress bars off so no stale widgets are stored),
then `nbdev-clean` tidies it. Its wall time, profile and machine go to `results/runs/<notebook>.json`, which the
index notebook's reading path shows. A script, not a test: the time depends on the machine and what else runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(notebook: Path, profile: str, timeout: int) -> dict:
    "Execute `notebook` in place in `profile`; returns its run record."
    env = {**os.environ, "PRODTAGS_PROFILE": profile, "PRODTAGS_PROGRESS": "0"}
    jupyter = Path(sys.executable).with_name("jupyter")
    t0 = time.perf_counter()
    subprocess.run([str(jupyter), "nbconvert", "--to", "notebook", "--execute", "--inplace",
                    f"--ExecutePreprocessor.timeout={timeout}", notebook.name], cwd=notebook.parent, env=env, check=True)
    seconds = time.perf_counter() - t0
    subprocess.run([str(Path(sys.executable).with_name("nbdev-clean")), "--fname", str(notebook)], cwd=ROOT, check=True)
    import torch
    return {"notebook": notebook.stem, "profile": profile, "seconds": round(seconds), "date": time.strftime("%Y-%m-%d"),
            "device": "cuda" if torch.cuda.is_available() else "cpu", "cpus": os.cpu_count(),
            "machine": platform.machine(), "torch": torch.__version__}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="+", type=Path)
    p.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "gpu"))
    p.add_argument("--timeout", type=int, default=7200, help="seconds per cell")
    args = p.parse_args(argv)
    out = ROOT / "results" / "runs"
    out.mkdir(parents=True, exist_ok=True)
    for nb in args.notebooks:
        record = run(nb.resolve(), args.profile, args.timeout)
        if args.profile != "smoke":
            (out / f"{nb.stem}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"{nb.name}: {record['seconds']} s ({args.profile})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
