"""The digest's HTML report in a real headless browser (Debian's `chromium`): the DOM after rendering, a screenshot,
and the text of the elements the report marks with an id (its numbers).

Chromium runs with no network and a throw-away profile: --headless --no-sandbox --disable-gpu
--disable-background-networking --disable-component-update --disable-sync --no-first-run --user-data-dir=<tmp>.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
TIMEOUT_S = 120


def find_chromium() -> str | None:
    """The chromium binary on PATH (Debian package `chromium`), or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(binary: str, page: Path, *extra: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
        env = {**os.environ, "HOME": profile}  # no writes to the real home
        return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, check=True)


def dump_dom(binary: str, page: Path) -> str:
    """The serialised DOM after the page has rendered (chromium --dump-dom)."""
    return _run(binary, page, "--dump-dom").stdout


def screenshot(binary: str, page: Path, png: Path, width: int = 1100, height: int = 1500) -> Path:
    """A PNG of the rendered page's first `width` x `height` pixels (chromium --screenshot)."""
    _run(binary, page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}")
    return png


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: dict[str, str] = {}
        self.open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        ident = dict(attrs).get("id")
        self.open.append(ident)
        if ident:
            self.ids[ident] = ""

    def handle_endtag(self, tag):
        if self.open:
            self.open.pop()

    def handle_data(self, data):
        for ident in self.open:
            if ident:
                self.ids[ident] += data


def element_texts(page: str) -> dict[str, str]:
    """Text of every element with an id, thousands separators removed."""
    parser = _Ids()
    parser.feed(page)
    return {k: v.strip().replace(",", "") for k, v in parser.ids.items()}
