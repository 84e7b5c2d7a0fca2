"""Pages in headless Chromium (Debian's ``chromium``): whether a page fits a window, and a
screenshot of it under ``reports/screenshots/`` for review."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[1] / "reports" / "screenshots"
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                    reason="needs Debian's chromium")
_PROBE = ("<script>document.title = 'fits ' + (document.documentElement.scrollWidth <= "
          "window.innerWidth) + ' ' + document.documentElement.scrollWidth + '/' + "
          "window.innerWidth;</script></body>")


def chromium(*args: str) -> str:
    """Headless chromium's standard output for ``args``."""
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", *args], capture_output=True, text=True,
                          timeout=120, check=True).stdout


def fits(page: str, width: int, folder: Path) -> str:
    """``"fits true W/W"`` when ``page`` has no horizontal overflow in a ``width`` px
    window, else ``"fits false …"``: the page is loaded from a copy with a probe script
    appended (the page itself stays script-free)."""
    probe = folder / f"probe-{width}.html"
    probe.write_text(page.replace("</body>", _PROBE))
    dom = chromium(f"--window-size={width},1000", "--dump-dom", probe.as_uri())
    return re.search(r"<head>.*?<title>(.*?)</title>", dom, re.S).group(1)


def screenshot(page: Path, name: str, width: int, height: int = 1400) -> Path:
    """A PNG of ``page`` at ``width`` × ``height`` px, saved as ``reports/screenshots/NAME``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / name
    chromium(f"--window-size={width},{height}", f"--screenshot={shot}", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return shot
