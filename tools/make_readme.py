"""Write README.md from nbs/index.ipynb without Quarto: markdown cells as they are, code cells by their outputs
(markdown or plain text; plots are saved under docs/ and linked). `--check` exits 1 if README.md is stale."""
import base64
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = "<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n"


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
    return HEADER + "\n\n".join(p for p in parts if p) + "\n", images


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
