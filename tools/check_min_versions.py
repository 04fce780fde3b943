"""Install the lowest versions pyproject.toml allows into a fresh environment and run the unit tests there.

    python tools/check_min_versions.py [--extras bert,crf,lexicon,vision,plot,scale,challenges,apps] [--keep-torch] [--venv DIR]

Every `>=` bound of the base dependencies and of the chosen extras becomes `==` (pins stay pins); the test tools
(pytest, hypothesis, seqeval) come in their current versions. The unit tests in `tests/` then run in the `smoke`
profile against this checkout, except the notebook and wheel checks (they test the repository, not the bounds).
`--keep-torch` reuses this environment's torch and torchvision instead of installing the lowest ones (a torch
download is gigabytes): the other bounds are still checked. `make test-min` runs it; it needs the network and a few
minutes, so it is not part of `make test`.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from envtools import clean_environ, fresh_venv, pip  # noqa: E402

TEST_TOOLS = ("pytest", "hypothesis", "seqeval")
NOT_HERE = ("tests/test_notebooks.py", "tests/test_wheel.py")


def declared(extras: list[str]) -> list[str]:
    "The requirements of the base install and of `extras`, as written in pyproject.toml."
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    def block(pattern: str) -> list[str]:
        body = re.search(pattern, text, re.S)[1]
        return re.findall(r'"([^"]+)"', body)
    reqs = block(r"\ndependencies = \[(.*?)\]")
    for extra in extras: reqs += block(rf"\n{re.escape(extra)} = \[(.*?)\]")
    return reqs


def lowest(req: str) -> str:
    "`name>=1.2` -> `name==1.2`; `name==1.2` and unbounded names stay as they are."
    return re.sub(r">=\s*([^,;\s]+)(,[^;]*)?", r"==\1", req)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--extras", default="bert,crf,lexicon,vision,plot,scale,challenges,apps", help="comma-separated extras to check too")
    p.add_argument("--keep-torch", action="store_true", help="reuse this environment's torch and torchvision")
    p.add_argument("--venv", type=Path, default=None, help="where to build the environment (default: a temporary folder)")
    args = p.parse_args(argv)
    extras = [e for e in args.extras.split(",") if e]
    pins = [lowest(r) for r in declared(extras)]
    if args.keep_torch: pins = [r for r in pins if not re.match(r"torch(vision)?\b", r)]
    root = args.venv or Path(tempfile.mkdtemp(prefix="prodtags-min-"))
    python = fresh_venv(root, reuse=("torch", "torchvision") if args.keep_torch else ())
    print("installing:", " ".join(pins), flush=True)
    r = pip(python, "install", "--quiet", *pins, *TEST_TOOLS)
    if r.returncode:
        print(r.stdout[-3000:], r.stderr[-3000:], file=sys.stderr)
        return r.returncode
    frozen = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "freeze"], capture_output=True,
                            text=True, env=clean_environ()).stdout
    print("installed:", ", ".join(l for l in frozen.splitlines() if re.split(r"[=@ ]", l)[0].lower().replace("_", "-")
                                  in {re.split(r"[=<>\[ ]", x)[0].lower() for x in pins}), flush=True)
    # A cache of its own: converted encoders are made again with these versions, not taken from an earlier run.
    env = {**clean_environ(), "PYTHONPATH": str(ROOT), "PRODTAGS_PROFILE": "smoke", "OMP_NUM_THREADS": "1",
           "PRODTAGS_CACHE": str(root / "cache")}
    tests = [str(ROOT / "tests"), *(f"--ignore={ROOT / t}" for t in NOT_HERE), "-q", "-x", "-p", "no:cacheprovider"]
    return subprocess.run([str(python), "-m", "pytest", *tests], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
