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


# ---------------------------------------------------------------- what a reader sees in the stored notebooks

import re

MACHINE_PATH = re.compile(r"(/tmp/|/root/|/home/|/work/|/Users/|site-packages|\.venv/|[A-Z]:\\\\Users)")
PROCESS_WORDS = re.compile(r"\bthe issue\b|\bissue's\b|\btarget missed\b|\bthe ticket\b|\bsession\b|\bcard\b",
                           re.IGNORECASE)


def _cells(nb):
    return json.loads(nb.read_text(encoding="utf-8"))["cells"]


def _output_text(out) -> str:
    if out["output_type"] == "stream": return "".join(out["text"])
    if out["output_type"] == "error": return "\n".join(out.get("traceback", [])) + out.get("evalue", "")
    data = out.get("data", {})
    return "".join("".join(data.get(k, "")) for k in ("text/plain", "text/markdown", "text/html"))


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_outputs_carry_no_machine_paths_or_missing_glyphs(nb):
    for cell in _cells(nb):
        for out in cell.get("outputs", []):
            text = _output_text(out)
            assert not MACHINE_PATH.search(text), f"a path of the machine that ran {nb.name}: {MACHINE_PATH.search(text)[0]!r} in {text[:300]!r}"
            assert "missing from font" not in text and "missing from current font" not in text, f"{nb.name}: {text[:300]}"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_failing_cells_show_one_short_error(nb):
    "Cells that run the article's broken code on purpose show the error that matters, not a long traceback."
    for cell in _cells(nb):
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                lines = sum(part.count("\n") + 1 for part in out.get("traceback", []))
                assert lines <= 12, f"{nb.name}: a {lines}-line traceback in {''.join(cell['source'])[:120]!r}"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_notebooks_store_what_jupyterlab_writes(nb):
    "JupyterLab marks a notebook changed on opening unless its kernelspec and language_info match what it writes."
    meta = json.loads(nb.read_text(encoding="utf-8"))["metadata"]
    assert meta.get("kernelspec") == {"display_name": "prodtags", "language": "python", "name": "prodtags"}, meta
    assert meta.get("language_info", {}).get("name") == "python", meta


@pytest.mark.parametrize("path", [*NBS, ROOT / "README.md"], ids=lambda p: p.name)
def test_the_text_speaks_of_the_project(path):
    text = path.read_text(encoding="utf-8")
    found = PROCESS_WORDS.findall(text)
    assert not found, f"{path.name} speaks of how the work is organised: {found}"


@pytest.mark.parametrize("nb", [p for p in NBS if p.stem != "index"], ids=lambda p: p.name)
def test_every_notebook_has_a_summary_and_a_recap(nb):
    cells = _cells(nb)
    head = "".join(cells[0]["source"])
    assert "中文摘要" in head, f"{nb.name}: no 中文摘要 under the title"
    summary = head.split("中文摘要", 1)[1].split("\n\n", 1)[0]
    assert 3 <= summary.count("。") <= 6, f"{nb.name}: the 中文摘要 should be 3-5 sentences"
    assert any("## Recap" in "".join(c["source"]) for c in cells[-3:]), f"{nb.name}: no recap at its end"


NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)(?![\w.])")
CITATION = re.compile(r"et al\.|\(\d{4}\)|\b(?:NAACL|ACL|EMNLP|KDD|WWW|ICLR|NeurIPS|arXiv) \d{4}|\bcites?\b", re.I)


def _numbers(text: str) -> set[float]:
    "Every number in `text`, also read as a percentage of a fraction (F1 0.597 is 59.7 in prose)."
    out = set()
    for tok in re.findall(r"-?\d[\d,]*(?:\.\d+)?(?:e-?\d+)?", text):
        try: x = float(tok.replace(",", ""))
        except ValueError: continue
        out |= {x, x * 100}
    return out


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_numbers_in_prose_come_from_outputs(nb):
    """A decimal or thousands-grouped number written in a Markdown cell must be a number of the notebook's code or
    outputs (as written, or rounded to the prose's precision); figures from elsewhere sit on a line that cites them."""
    cells = _cells(nb)
    known = set()
    for c in cells:
        if c["cell_type"] == "code":
            known |= _numbers("".join(c["source"]))
            for out in c.get("outputs", []): known |= _numbers(_output_text(out))
    missing = []
    for c in cells:
        if c["cell_type"] != "markdown": continue
        for line in "".join(c["source"]).splitlines():
            if CITATION.search(line): continue
            line = re.sub(r"`[^`]*`|\$[^$]*\$|\]\([^)]*\)", " ", line)        # code, formulas and link targets
            for tok in NUMBER.findall(line):
                value, decimals = float(tok.replace(",", "")), len(tok.split(".")[1]) if "." in tok else 0
                if not any(abs(round(k, decimals) - value) < 1e-9 for k in known):
                    missing.append(tok)
    assert not missing, f"{nb.name}: numbers in prose that no output or code shows: {sorted(set(missing))}"
