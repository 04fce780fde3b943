"""Fresh environments that reuse an installed torch: used by tests/test_wheel.py and tools/check_min_versions.py.

A fresh virtual environment gets a `.pth` file naming a folder of links to some installed distributions (torch and
what it requires), so that it sees them without a second multi-gigabyte download, and nothing else of this one."""
from __future__ import annotations

import importlib.metadata as md
import os
import re
import subprocess
import sys
from pathlib import Path


def requirement(text: str):
    "A parsed requirement (packaging's, or the copy that pip vendors)."
    try: from packaging.requirements import Requirement
    except ImportError: from pip._vendor.packaging.requirements import Requirement
    return Requirement(text)


def closure(names) -> list[md.Distribution]:
    "The installed distributions `names` and everything they require (markers evaluated, extras followed)."
    seen, todo, out = set(), [(n, frozenset()) for n in names], []
    while todo:
        name, extras = todo.pop()
        key = (re.sub(r"[-_.]+", "-", name).lower(), extras)
        if key in seen: continue
        seen.add(key)
        try: dist = md.distribution(name)
        except md.PackageNotFoundError: continue       # an optional requirement that is not installed
        out.append(dist)
        for text in dist.requires or []:
            req = requirement(text)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (extras or {""})): continue
            todo.append((req.name, frozenset(req.extras)))
    return out


def link_site(dists, dest: Path) -> Path:
    "A folder of links to the top-level files and metadata of `dists`."
    dest.mkdir(parents=True, exist_ok=True)
    for dist in dists:
        for f in dist.files or []:
            if not f.parts or f.parts[0] == "..": continue
            top = f.parts[0]
            if top.endswith(".pth") or (dest / top).exists() or (dest / top).is_symlink(): continue
            src = Path(dist.locate_file(top))
            if src.exists(): (dest / top).symlink_to(src)
    return dest


def clean_environ() -> dict:
    "This process's environment without what would let a checkout or another environment shadow a fresh one."
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_TARGET", "PIP_PREFIX")}


def fresh_venv(root: Path, reuse: tuple[str, ...] = ()) -> Path:
    "A virtual environment in `root/venv` (no pip inside) that sees the installed `reuse` distributions; its python."
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    if reuse:
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        linked = link_site(closure(reuse), root / "reused-site")
        (Path(site) / "reused.pth").write_text(f"{linked}\n")
    return python


def pip(python: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    "This environment's pip, installing into the environment of `python`."
    return subprocess.run([sys.executable, "-m", "pip", "--python", str(python), *args], capture_output=True, text=True,
                          env=clean_environ(), cwd=cwd)
