"""Front-end libraries are vendored, pinned and checked; pages load nothing from outside."""

import hashlib
import re
from pathlib import Path

from tests.conftest import BASE_DIR

VENDOR = BASE_DIR / "static" / "vendor"
ROW = re.compile(r"^\| [^|]+ \| [^|]+ \| `(?P<file>[^`]+)` \|.*\| `(?P<sha>[0-9a-f]{64})` \|$")


def vendored_files() -> dict[str, str]:
    rows = (ROW.match(line) for line in (VENDOR / "README.md").read_text().splitlines())
    return {row["file"]: row["sha"] for row in rows if row}


def test_every_vendored_file_matches_its_recorded_checksum():
    files = vendored_files()
    assert files, "static/vendor/README.md lists no files"
    for name, sha in files.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == sha, name


def test_every_script_in_static_vendor_is_listed():
    listed = set(vendored_files())
    on_disk = {str(p.relative_to(VENDOR)) for p in VENDOR.rglob("*.js")}
    assert on_disk == listed


def _sources() -> list[Path]:
    templates = list((BASE_DIR / "templates").rglob("*.html"))
    scripts = list((BASE_DIR / "static" / "js").rglob("*.js"))
    styles = list((BASE_DIR / "static" / "css").rglob("*.css"))
    return templates + scripts + styles


def test_templates_scripts_and_styles_load_nothing_from_another_origin():
    # Plain links (<a href>) to other sites are fine: they load nothing.
    remote = re.compile(
        r"""\bsrc\s*=\s*["']?(https?:)?//"""  # <script src=//…>, <img src=https://…>
        r"""|<link\b[^>]*\bhref\s*=\s*["']?(https?:)?//"""  # stylesheets, fonts, icons
        r"""|@import\s+url\(\s*["']?https?:|fetch\(\s*["']https?:"""
    )
    assert remote.search('<script src="https://cdn.example/x.js">')
    assert not remote.search('<a href="https://www.tradingview.com/">')
    offenders = [str(p) for p in _sources() if remote.search(p.read_text())]
    assert not offenders
