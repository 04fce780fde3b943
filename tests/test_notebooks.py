"The notebooks are the source: prodtags/ must be what nbdev-export makes of them, and they must be clean."
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT / "nbs").glob("*.ipynb"))


def _bin(name):
    exe = Path(sys.executable).with_name(name)
    if not exe.exists(): pytest.skip(f"{name} not installed (pip install -e '.[dev]')")
    return str(exe)


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    dest = tmp_path_factory.mktemp("repo")
    for name in ("nbs", "prodtags"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    shutil.copy(ROOT / "pyproject.toml", dest)
    return dest


def test_exported_modules_match_notebooks(copy):
    subprocess.run([_bin("nbdev-export")], cwd=copy, check=True, capture_output=True)
    stale = [p.name for p in sorted((copy / "prodtags").glob("*.py"))
             if not (ROOT / "prodtags" / p.name).exists() or p.read_text() != (ROOT / "prodtags" / p.name).read_text()]
    assert not stale, f"prodtags/ is out of date for {stale}: run nbdev-export and commit."


def test_notebooks_are_clean(copy):
    subprocess.run([_bin("nbdev-clean")], cwd=copy, check=True, capture_output=True)
    dirty = [nb.name for nb in NBS if (copy / "nbs" / nb.name).read_text() != nb.read_text()]
    assert not dirty, f"Notebooks not clean: {dirty}: run nbdev-clean and commit."


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_notebooks_keep_their_outputs(nb):
    "Readers on the web see results: every notebook is committed with outputs and no errors except expected ones."
    cells = json.loads(nb.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert sum(bool(c.get("outputs")) for c in code) >= (len(code) // 3 if nb.stem != "index" else 0)
    for c in code:
        errors = [o for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert not errors or "raises-exception" in c.get("metadata", {}).get("tags", []), "".join(c["source"])[:200]


def test_readme_is_generated_from_the_index_notebook():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "make_readme.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
