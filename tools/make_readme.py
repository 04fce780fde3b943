"""Write README.md from nbs/index.ipynb without Quarto: markdown cells as they are, code cells by their outputs
(markdown or plain text; plots are saved under docs/ and linked). `--check` exits 1 if README.md is stale.

Links and images point at the repository on GitHub ([project.urls] Repository and [tool.nbdev] branch in
pyproject.toml), so that they work on a package index page as well as in the repository."""
import base64
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = "<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n"
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def absolute_links(text: str, pyproject: Path = ROOT / "pyproject.toml") -> str:
    "Relative Markdown links and images made absolute: pages on the repository's site, images from its raw files."
    toml = pyproject.read_text(encoding="utf-8")   # read with a pattern: tomllib needs Python 3.11
    repo = re.search(r'^Repository\s*=\s*"([^"]+)"', toml, re.M)[1].rstrip("/")
    branch = (re.search(r'^branch\s*=\s*"([^"]+)"', toml, re.M) or [None, "main"])[1]
    raw = repo.replace("https://github.com/", "https://raw.githubusercontent.com/")

    def fix(m: re.Match) -> str:
        bang, label, target = m.groups()
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target): return m.group(0)
        return f"{bang}[{label}]({raw if bang else repo + '/blob'}/{branch}/{target})"
    parts = text.split("```")   # odd parts are inside code fences: left as they are
    return "```".join(LINK.sub(fix, p) if i % 2 == 0 else p for i, p in enumerate(parts))


def render(nb_path: Path = ROOT / "nbs" / "index.ipynb") -> tuple[str, dict[str, bytes]]:
    "README text and the images it links, from the index notebook."
    cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    parts, images = [], {}
    for i, cell in enumerate(cells):
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            parts.append(src.strip())
            continue
        for j, out in enumerate(cell.get("outputs", [])):
            data = out.get("data", {})
            if "image/png" in data:
                name = f"docs/index_{i}_{j}.png"
                images[name] = base64.b64decode(data["image/png"])
                parts.append(f"![figure from nbs/index.ipynb]({name})")
            elif "text/markdown" in data:
                parts.append("".join(data["text/markdown"]).strip())
            elif out.get("output_type") == "stream" and out.get("name") == "stdout":
                parts.append("```\n" + "".join(out["text"]).rstrip() + "\n```")
    return HEADER + absolute_links("\n\n".join(p for p in parts if p)) + "\n", images


def main(check: bool = False) -> int:
    text, images = render()
    readme = ROOT / "README.md"
    stale = not readme.exists() or readme.read_text(encoding="utf-8") != text or any(
        not (ROOT / n).exists() or (ROOT / n).read_bytes() != b for n, b in images.items())
    if check:
        if stale: print("README.md is out of date: run `make readme` (tools/make_readme.py).")
        return int(stale)
    readme.write_text(text, encoding="utf-8")
    for name, data in images.items(): (ROOT / name).write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
