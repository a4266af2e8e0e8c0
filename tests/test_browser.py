"""The built book as a reader's browser shows it: headless Chromium with the network off.

Builds the book once from the notebooks executed with the ci profile (the ``ci_notebooks`` fixture of
``conftest.py``, shared with the notebook tests, then ``scripts/build_book.py --no-execute``), then loads the
intro, the method page and every notebook page from ``_build/html`` and checks that the equations were typeset
by the MathJax served with the book, that every image and internal link resolves, and that no page shows a
traceback or an error output. A screenshot of each page goes to ``_build/screenshots/`` for a person to look
at. Skips, saying why, where no Chromium is installed (Debian: ``apt-get install chromium``; ``.ci/run``
installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# no network: every host name fails to resolve and any proxy use goes nowhere
OFFLINE = [
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
]
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *OFFLINE]

pytestmark = [
    pytest.mark.book,
    pytest.mark.skipif(
        CHROMIUM is None, reason="no chromium on this machine (Debian: apt-get install chromium)"
    ),
]


class Page(HTMLParser):
    """The visible text, images, links, math containers and output cells of a rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.math = 0
        self.errors: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style", "noscript"):
            self._hidden += 1
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "mjx-container":
            self.math += 1
        classes = (attrs.get("class") or "").split()
        if "output" in classes and ("error" in classes or "traceback" in classes):
            self.errors.append(attrs.get("class"))

    def handle_endtag(self, tag):
        if tag in ("script", "style", "noscript"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.text.append(data)


def pages() -> list[Path]:
    notebooks = sorted((HTML / "notebooks").glob("[0-9][0-9]_*.html"))
    return [HTML / "book" / "intro.html", HTML / "book" / "method.html", *notebooks]


@pytest.fixture(scope="module")
def book(ci_notebooks):
    ci_notebooks.execute_book()  # the notebook tests' executions (each notebook once per session)
    done = subprocess.run(
        [sys.executable, "scripts/build_book.py", "--no-execute"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    SHOTS.mkdir(parents=True, exist_ok=True)
    return HTML


def rendered(page: Path) -> Page:
    """The DOM after the page's scripts ran (MathJax included), parsed."""
    dom = subprocess.run(
        [CHROMIUM, *HEADLESS, "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    parsed = Page()
    parsed.feed(dom)
    return parsed


def test_every_page_renders_offline_with_its_math_figures_and_links(book):
    found = pages()
    assert len(found) >= 9, [p.name for p in found]
    problems = []
    for page in found:
        name = page.relative_to(book).as_posix()
        subprocess.run(
            [CHROMIUM, *HEADLESS, "--window-size=1280,2400", "--virtual-time-budget=20000",
             f"--screenshot={SHOTS / (name.replace('/', '_') + '.png')}", page.as_uri()],
            capture_output=True, timeout=120,
        )  # fmt: skip
        dom = rendered(page)
        text = " ".join(dom.text)
        if "\\(" in text or "$$" in text or "\\[" in text:
            problems.append(f"{name}: raw TeX left in the visible text")
        if "Traceback (most recent call last)" in text or dom.errors:
            problems.append(f"{name}: an error output")
        for src in dom.images:
            if not src.startswith("data:") and not (page.parent / unquote(urlsplit(src).path)).is_file():
                problems.append(f"{name}: image {src} does not load")
        for href in dom.links:
            parts = urlsplit(href)
            if parts.scheme or not parts.path:
                continue  # another site, or a link within the page
            if not (page.parent / unquote(parts.path)).exists():
                problems.append(f"{name}: link {href} leads nowhere")
        if name == "book/method.html" and dom.math == 0:
            problems.append(f"{name}: no equation was typeset")
    assert not problems, "\n".join(problems)
    assert sorted(p.name for p in SHOTS.iterdir()) == sorted(
        p.relative_to(book).as_posix().replace("/", "_") + ".png" for p in found
    )


def test_math_is_served_with_the_book(book):
    # equations must not depend on a CDN: the page loads MathJax from _static
    method = (book / "book" / "method.html").read_text()
    sources = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', method, flags=re.I)
    assert sources and all(not s.startswith("http") for s in sources), sources
    assert (book / "_static" / "mathjax" / "tex-chtml.js").is_file()
