"The top-level API, a start that does not import torch, and extras that name themselves."
import ast
import importlib.metadata as md
import pydoc
import re
import subprocess
import sys
from pathlib import Path

import pytest

import prodtags
from prodtags.cli import main
from prodtags.core import EXTRAS, MissingExtraError, TagSpan, require

ROOT = Path(__file__).resolve().parents[1]


def _imported_after(code: str) -> set[str]:
    "The modules a fresh interpreter has imported after running `code` (with this checkout first on the path)."
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_import_prodtags_and_the_cli_parser_leave_torch_unimported():
    assert "torch" not in _imported_after("import prodtags, prodtags.core, prodtags.cli")
    for args in (["--help"], ["--version"], ["tag", "--help"]):
        code = f"from prodtags.cli import main\ntry: main({args!r})\nexcept SystemExit: pass"
        modules = _imported_after(code)
        assert "prodtags.cli" in modules and "torch" not in modules and "numpy" not in modules, args
    assert "torch" in _imported_after("import prodtags\nprodtags.SpanTagger")   # the probe can see torch


def test_version_and_python_dash_m(capsys):
    with pytest.raises(SystemExit) as e: main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"prodtags {prodtags.__version__}\n"
    r = subprocess.run([sys.executable, "-m", "prodtags", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == f"prodtags {prodtags.__version__}"


def test_the_package_docstring_and_lazy_names():
    doc = pydoc.render_doc(prodtags, renderer=pydoc.plaintext)
    for phrase in ("prodtags.load(", "prodtags.tag(", "train(recipe, out)", "pip install 'prodtags[crf]'"):
        assert phrase in doc, phrase
    assert prodtags.TagSpan is TagSpan and prodtags.MissingExtraError is MissingExtraError
    assert prodtags.rnn.__name__ == "prodtags.rnn"                              # submodules too, on first use
    assert {"TagSpan", "load", "tag", "train", "SpanTagger"} <= set(dir(prodtags))
    with pytest.raises(AttributeError, match="no attribute 'TagSpam'"): prodtags.TagSpam


def test_load_and_tag_take_a_tagger_folder_or_a_training_output_folder(toy, tmp_path):
    from prodtags.taggers import CharTagger
    _, vocab, tagset, model, _ = toy()
    saved = CharTagger(model, vocab, tagset, "cpu")
    saved.save(tmp_path / "run" / "tagger")
    titles = ["华为手机", "新款小米耳机正品"]
    for folder in (tmp_path / "run", tmp_path / "run" / "tagger"):
        tagger = prodtags.load(folder, device="cpu")
        assert isinstance(tagger, prodtags.SpanTagger) and tagger.predict(titles) == saved.predict(titles)
        assert prodtags.tag(titles, model=folder) == saved.predict(titles)
        assert prodtags.tag(titles[0], model=folder) == saved.predict(titles[0])
    with pytest.raises(prodtags.CheckpointError, match="No model folder"): prodtags.load(tmp_path / "nowhere")


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycrfsuite", None)
    with pytest.raises(MissingExtraError, match=r"^The CRF needs the 'crf' extra .*: pip install 'prodtags\[crf\]'$"):
        require("pycrfsuite", "crf", "The CRF")
    with pytest.raises(ImportError): require("pycrfsuite", "crf")   # still an ImportError for callers that catch one
    with pytest.raises(prodtags.ConfigError): require("numpy", "crf")  # not a module of that extra: a bug


@pytest.mark.parametrize("argv, extra, hidden", [
    (["train", "crf"], "crf", "pycrfsuite"),
    (["train", "e5-ner"], "bert", "transformers"),
])
def test_the_cli_says_which_extra_to_install(argv, extra, hidden, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, hidden, None)
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(f"pip install 'prodtags[{extra}]'\n"), err
    assert main(["info"]) == 0
    row = next(l for l in capsys.readouterr().out.splitlines() if l.split()[:1] == [argv[1]])
    assert f"needs pip install 'prodtags[{extra}]'" in row


def test_a_saved_crf_tagger_without_its_extra(taobao, tmp_path, monkeypatch, capsys):
    from prodtags.rnn import CRFSuiteTagger
    CRFSuiteTagger.train(taobao["train"][:30], max_iterations=2).save(tmp_path / "crf")
    monkeypatch.setitem(sys.modules, "pycrfsuite", None)
    assert main(["tag", "--model", str(tmp_path / "crf"), "华为手机"]) == 2
    assert "pip install 'prodtags[crf]'" in capsys.readouterr().err


# ---------------------------------------------------------------- what pyproject.toml declares

def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _names(requirements) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def _third_party_imports() -> dict[str, set[str]]:
    "Top-level third-party modules imported by the package: {'module': {'top level' or 'in a function'}}."
    found: dict[str, set[str]] = {}
    for path in (ROOT / "prodtags").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(n) for n in tree.body}
        for block in (n for n in tree.body if isinstance(n, (ast.If, ast.Try))):   # `if TYPE_CHECKING:`, `try:`
            top |= {id(n) for n in block.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import): mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module: mods = [node.module]
            else: continue
            for m in mods:
                m = m.split(".")[0]
                if m in sys.stdlib_module_names or m in ("prodtags", "__future__"): continue
                found.setdefault(m, set()).add("top level" if id(node) in top else "in a function")
    return found


def test_every_imported_package_is_declared():
    project = _pyproject()["project"]
    base = _names(project["dependencies"])
    extras = {k: _names(v) for k, v in project["optional-dependencies"].items()}
    assert set(EXTRAS) == set(extras) - {"all", "dev"}, "EXTRAS in 00_core and the extras of pyproject.toml differ"
    assert _names(project["optional-dependencies"]["all"]) == {"prodtags"}
    assert set(re.search(r"\[(.*)\]", project["optional-dependencies"]["all"][0])[1].split(",")) == set(EXTRAS)
    dists = {m: {d.lower().replace("_", "-") for d in ds} for m, ds in md.packages_distributions().items()}
    for module, where in _third_party_imports().items():
        # an extra that is not installed here (the lower-bound run leaves some out): its module by its own name
        provided_by = dists.get(module) or {module.lower().replace("_", "-")}
        if "top level" in where:
            assert provided_by & base, f"prodtags imports {module} at import time but the base install lacks it"
        else:
            assert provided_by & (base | set().union(*extras.values())), f"{module} is imported but not declared"
    for extra, modules in EXTRAS.items():
        for module in (m for m in modules if m in dists):    # where the extra is installed
            assert dists[module] & extras[extra], f"{module} is not installed by the {extra!r} extra"
    for module, where in _third_party_imports().items():
        if module in {m for ms in EXTRAS.values() for m in ms}:
            assert where == {"in a function"}, f"{module} (an extra) is imported when prodtags is"


def test_optional_imports_go_through_require():
    "A function importing a module of an extra also calls require() for that extra, so a missing extra is named."
    extra_of = {m: e for e, ms in EXTRAS.items() for m in ms}
    for path in (ROOT / "prodtags").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            required = {c.args[1].value for c in ast.walk(fn) if isinstance(c, ast.Call) and len(c.args) > 1
                        and getattr(c.func, "id", None) == "require" and isinstance(c.args[1], ast.Constant)}
            for node in ast.walk(fn):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                        [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                for m in (m.split(".")[0] for m in mods):
                    if m not in extra_of or extra_of[m] in required: continue
                    if m == "matplotlib" and "use_cjk_font()" in ast.unparse(fn): continue   # it requires `plot`
                    pytest.fail(f"{path.name}:{node.lineno} imports {m} without require(..., {extra_of[m]!r})")
