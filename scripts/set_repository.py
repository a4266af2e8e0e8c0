"""Point the book's launch buttons and every notebook's Colab set-up cell at one repository URL.

The URL lives in `_config.yml` (`repository.url`, which Jupyter Book's launch buttons read); each
notebook's first code cell carries a copy, because a notebook opened on Colab has nothing else to
read it from. This script writes the URL into both, and re-pairs the notebooks; a test fails when
they disagree. After publishing the repository:

    python scripts/set_repository.py https://github.com/<owner>/<name>
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP = """# %% tags=["remove-cell"]
# Set-up on a fresh Colab runtime (does nothing elsewhere): fetch the repository, with the package and
# its committed results, install it, and work from its root. REPOSITORY is _config.yml's
# repository.url; scripts/set_repository.py changes both.
import os
import subprocess
import sys

REPOSITORY = "{url}"
if "google.colab" in sys.modules:
    if not os.path.isdir("tad-repository"):
        cloned = subprocess.run(
            ["git", "clone", "--depth", "1", REPOSITORY, "tad-repository"], capture_output=True, text=True
        )
        if cloned.returncode != 0:
            raise RuntimeError(
                f"could not clone {{REPOSITORY}} ({{cloned.stderr.strip()}}); set REPOSITORY to the "
                "published repository (see the book's Reproduce page)."
            )
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "./tad-repository"], check=True)
    os.chdir("tad-repository")
"""

# the set-up cell: from its first line to the blank line before the next cell
PATTERN = re.compile(r"# %%(?: tags=\[[^\]]*\])?\n(?:# Set-up on a fresh Colab runtime.*?|import subprocess\n"
                     r"import sys\n\nif \"google\.colab\".*?)\n(?=\n# %%)", re.S)  # fmt: skip
URL_LINE = re.compile(r'^REPOSITORY = "([^"]+)"$', re.M)


def notebook_sources() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def notebook_url(path: Path) -> str | None:
    found = URL_LINE.search(path.read_text())
    return found.group(1) if found else None


def config_url() -> str:
    found = re.search(r"^repository:\n  url: (\S+)$", (ROOT / "_config.yml").read_text(), re.M)
    if not found:
        raise SystemExit("_config.yml has no repository.url")
    return found.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the published repository, e.g. https://github.com/owner/tad")
    args = parser.parse_args()
    if not re.fullmatch(r"https://\S+", args.url):
        raise SystemExit(f"not an https URL: {args.url}")
    config = ROOT / "_config.yml"
    text = re.sub(r"(^repository:\n  url: )\S+$", rf"\g<1>{args.url}", config.read_text(), flags=re.M)
    config.write_text(text)
    for path in notebook_sources():
        source = path.read_text()
        new, count = PATTERN.subn(SETUP.format(url=args.url), source, count=1)
        if count != 1:
            raise SystemExit(f"{path.name}: no set-up cell found")
        path.write_text(new)
        subprocess.run(
            [sys.executable, "-m", "jupytext", "--sync", str(path)], check=True, capture_output=True
        )
    print(f"repository URL set to {args.url} in _config.yml and {len(notebook_sources())} notebooks")


if __name__ == "__main__":
    main()
