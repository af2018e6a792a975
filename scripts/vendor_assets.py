#!/usr/bin/env python3
"""Copy the built NHS.UK frontend from node_modules into static/vendor/nhsuk.

Pages must never load anything from a CDN, so the stylesheet's @font-face rules
(which point at assets.nhs.uk) are removed: text falls back to Arial, as NHS.UK
frontend itself does when the font is unavailable. Image URLs are rewritten to
the vendored copies.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "node_modules" / "nhsuk-frontend" / "dist" / "nhsuk"
TARGET = ROOT / "static" / "vendor" / "nhsuk"
FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}")
EXTERNAL_URL = re.compile(r"url\((['\"]?)https?://", re.IGNORECASE)
# The source maps are not shipped; a comment naming one would make production's
# manifest storage (collectstatic) fail looking for it.
SOURCE_MAP_CSS = re.compile(r"/\*#\s*sourceMappingURL=[^*]*\*/")
SOURCE_MAP_JS = re.compile(r"//#\s*sourceMappingURL=\S*\s*$")


def main() -> int:
    css_source = SOURCE / "nhsuk-frontend.min.css"
    js_source = SOURCE / "nhsuk-frontend.min.js"
    if not css_source.exists() or not js_source.exists():
        print(
            f"vendor_assets: {SOURCE} is missing; run `npm ci` first.",
            file=sys.stderr,
        )
        return 1
    TARGET.mkdir(parents=True, exist_ok=True)
    css = css_source.read_text(encoding="utf-8")
    css = FONT_FACE.sub("", css)
    css = css.replace("url(/assets/images/", "url(images/")
    css = SOURCE_MAP_CSS.sub("", css)
    if EXTERNAL_URL.search(css):
        print("vendor_assets: the stylesheet still references an external URL.", file=sys.stderr)
        return 1
    (TARGET / "nhsuk-frontend.min.css").write_text(css, encoding="utf-8")
    js = SOURCE_MAP_JS.sub("", js_source.read_text(encoding="utf-8"))
    (TARGET / "nhsuk-frontend.min.js").write_text(js, encoding="utf-8")
    images = TARGET / "images"
    if images.exists():
        shutil.rmtree(images)
    shutil.copytree(SOURCE / "assets" / "images", images)
    print(f"vendor_assets: NHS.UK frontend copied to {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
