"""The studio in a real browser: `prodtags studio` (Voilà) and JupyterLab with the studio notebook, both on 127.0.0.1,
driven by Playwright with Debian's Chromium (`apt-get install chromium`; no browser is ever downloaded).

Without Chromium or Playwright the test is skipped, unless PRODTAGS_REQUIRE_BROWSER=1 (set by `make test` in CI), where
it fails. PRODTAGS_STUDIO_SCREENSHOT=path keeps the Voilà page's screenshot there (docs/studio.png)."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prodtags.studio import utf16_offset, write_studio_notebook

REQUIRE = os.environ.get("PRODTAGS_REQUIRE_BROWSER", "") not in ("", "0")
CHROMIUM = os.environ.get("PRODTAGS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
# Every title has 华为 after characters that are two UTF-16 units (and one has a combining mark): whichever the
# active-learning queue shows first, selecting 华为 in the browser exercises the offset conversion.
TITLES = ["🔥新款Cafe\u0301华为笔记本电脑轻薄本", "👍🏽华为手机 Mate 60 Pro", "💯华为MateBook 14 轻薄笔记本"]


def need(what: str, ok: bool):
    if ok: return
    if REQUIRE: pytest.fail(f"{what} is missing and PRODTAGS_REQUIRE_BROWSER is set (CI): apt-get install -y chromium; "
                            f"pip install playwright")
    pytest.skip(f"{what} is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None: pytest.fail(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0: return
        time.sleep(0.3)
    pytest.fail(f"nothing listening on port {port} after {timeout} s: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen):
    "Stop a server we started, and its kernels (its process group)."
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try: proc.wait(10)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, 9); proc.wait()


def records(path: Path) -> dict:
    out = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip(): r = json.loads(line); out[r["key"]] = r
    return out


def wait_for(check, what: str, timeout: float = 20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value: return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def drag_select(page, root, start16: int, end16: int):
    "Select the title's characters [start16, end16) (UTF-16 units) with a real mouse drag."
    box = root.locator(".pt-title")
    rects = box.evaluate("""(el, [a, b]) => {
        const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT); const r = document.createRange();
        let n = 0, start = null, end = null;
        while (w.nextNode()) { const t = w.currentNode;
            if (start === null && a < n + t.length) { r.setStart(t, a - n); r.setEnd(t, a - n + 1); start = r.getBoundingClientRect().toJSON(); }
            if (end === null && b <= n + t.length) { r.setStart(t, b - n - 1); r.setEnd(t, b - n); end = r.getBoundingClientRect().toJSON(); }
            n += t.length; }
        return [start, end]; }""", [start16, end16])
    (s, e) = rects
    page.mouse.move(s["x"] + 2, s["y"] + s["height"] / 2)
    page.mouse.down()
    page.mouse.move(e["x"] + e["width"] * 0.6, e["y"] + e["height"] / 2, steps=5)
    page.mouse.move(e["x"] + e["width"] - 1, e["y"] + e["height"] / 2, steps=2)
    page.mouse.up()


@pytest.fixture(scope="module")
def crf_model(tmp_path_factory):
    "A smoke-profile crf trained here (seconds), or the tagger folder in PRODTAGS_STUDIO_MODEL (for the README's picture)."
    need("Chromium", CHROMIUM is not None)     # before any training: nothing to do without a browser
    try: import playwright  # noqa: F401
    except ImportError: need("Playwright", False)
    if os.environ.get("PRODTAGS_STUDIO_MODEL"): return Path(os.environ["PRODTAGS_STUDIO_MODEL"])
    pytest.importorskip("pycrfsuite")
    from prodtags.recipes import find_recipe
    out = tmp_path_factory.mktemp("crf") / "crf"
    find_recipe("crf").load()(out, profile="smoke", progress=False)
    return out


def test_studio_in_voila_and_jupyterlab(tmp_path, crf_model):
    need("Chromium", CHROMIUM is not None)
    try: from playwright.sync_api import sync_playwright
    except ImportError: need("Playwright", False)
    pytest.importorskip("voila") if not REQUIRE else None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")]),
           "PRODTAGS_PROFILE": "smoke"}
    titles = tmp_path / "titles.txt"
    titles.write_text("\n".join(TITLES) + "\n", encoding="utf-8")
    ann_voila, ann_lab = tmp_path / "voila.jsonl", tmp_path / "lab.jsonl"

    # JupyterLab (slow to start) and `prodtags studio` start side by side.
    lab_dir = tmp_path / "lab"
    write_studio_notebook(lab_dir, str(crf_model), str(titles), str(ann_lab), "smoke")
    settings = lab_dir / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    lab_port, voila_port = free_port(), free_port()
    lab_log, voila_log = tmp_path / "lab.log", tmp_path / "voila.log"
    lab = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={lab_port}",
                            "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
                            f"--ServerApp.root_dir={lab_dir}", f"--LabApp.user_settings_dir={lab_dir / 'settings'}",
                            f"--LabApp.workspaces_dir={lab_dir / 'workspaces'}"],
                           stdout=open(lab_log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    voila = subprocess.Popen([sys.executable, "-m", "prodtags", "studio", "--model", str(crf_model), "--data", str(titles),
                              "--out", str(ann_voila), "--port", str(voila_port), "--profile", "smoke"],
                             stdout=subprocess.PIPE, stderr=open(voila_log, "w"), env=env, text=True,
                             start_new_session=True)
    try:
        first = voila.stdout.readline()
        assert first.startswith(f"prodtags studio: http://127.0.0.1:{voila_port}/"), first
        wait_port(voila_port, voila, voila_log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            context = browser.new_context(viewport={"width": 1100, "height": 720})  # a fresh profile of its own
            try:
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{voila_port}/", timeout=90_000)
                page.wait_for_selector(".pt-studio .pt-title", timeout=90_000)
                root = page.locator(".pt-studio")
                text = root.locator(".pt-title").evaluate("el => [...el.childNodes].map(n => n.textContent).join('')")
                assert text in TITLES
                # select 华为 with the mouse (after an emoji and a combining mark), tag it as a brand
                start = text.index("华为")
                drag_select(page, root, utf16_offset(text, start), utf16_offset(text, start + 2))
                root.get_by_role("button", name="1 商品词 HCCX").click()
                root.locator(".pt-tag").click()
                row = root.locator(".pt-span-row", has_text="华为").filter(has_text="annotator")   # not the suggestion
                row.wait_for(timeout=20_000)
                key = next(iter(wait_for(lambda: records(ann_voila), "the first save")))
                span = wait_for(lambda: [s for s in records(ann_voila)[key]["spans"] if s["text"] == "华为"], "华为 saved")[0]
                assert (span["start"], span["end"], span["type"]) == (start, start + 2, "HCCX")   # code points
                # change its type in its row: a brand
                row.locator(".pt-span-type select").select_option("HPPX")
                wait_for(lambda: any(s["text"] == "华为" and s["type"] == "HPPX" for s in records(ann_voila)[key]["spans"]),
                         "the type change saved")
                # a free tag, then accept the title with the keyboard
                root.get_by_placeholder("free tag (e.g. 轻薄)").fill("轻薄")
                root.locator(".pt-free").click()
                wait_for(lambda: records(ann_voila)[key]["free_tags"] == ["轻薄"], "the free tag saved")
                root.get_by_role("button", name="轻薄 ✕").wait_for(timeout=10_000)
                time.sleep(0.5)                                    # let the last widgets draw
                shot = tmp_path / "studio.png"
                root.screenshot(path=str(shot))                     # the studio, without the empty page below it
                if os.environ.get("PRODTAGS_STUDIO_SCREENSHOT"):
                    shutil.copy(shot, os.environ["PRODTAGS_STUDIO_SCREENSHOT"])
                root.locator(".pt-title").click()
                page.keyboard.press("Enter")
                wait_for(lambda: records(ann_voila)[key]["status"] == "done", "the title accepted with Enter")
                root.locator(".pt-title").click()
                page.keyboard.press("b")                           # back to it: the key goes to the studio
                root.get_by_text("1 done").wait_for(timeout=10_000)
                root.locator(".pt-span-row", has_text="华为").wait_for(timeout=10_000)
                # export, and read the file back
                export = tmp_path / "export.jsonl"
                root.locator("input[type=text]").last.fill(str(export))
                root.locator(".pt-export").click()
                wait_for(export.exists, "the export")
                from prodtags.data import read_span_file
                (title,) = read_span_file(export)
                assert title.text == text and ("华为", "HPPX", start) in [(s.text, s.type, s.start) for s in title.spans]

                # JupyterLab: open the notebook, run it, use the studio's keys inside the notebook
                wait_port(lab_port, lab, lab_log)
                page.goto(f"http://127.0.0.1:{lab_port}/lab/tree/studio.ipynb", timeout=90_000)
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
                page.get_by_text(re.compile(r"\) \| Idle")).first.wait_for(timeout=60_000)   # the kernel is up
                page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
                page.keyboard.press("Shift+Enter")
                title_box = page.locator(".jp-OutputArea .pt-title")
                try: title_box.wait_for(timeout=90_000)
                except Exception:
                    page.screenshot(path=str(tmp_path / "lab-failure.png"))
                    raise
                cells = page.locator(".jp-Notebook .jp-Cell").count()
                title_box.click()
                for k in ("a", "b", "x", "m"):                     # notebook shortcuts outside the title
                    page.keyboard.press(k)
                page.keyboard.press("Enter")
                done = wait_for(lambda: [r for r in records(ann_lab).values() if r["status"] == "done"], "Enter in JupyterLab")
                assert page.locator(".jp-Notebook .jp-Cell").count() == cells   # `a`/`b` added no cell
                assert all(s["state"] == "accepted" for s in done[0]["spans"])
            finally:
                context.close(); browser.close()
    finally:
        stop(voila); stop(lab)
