"""Where a `next` parameter may send the browser: only to a path on this site, read the way a browser reads it.

A browser does not take a URL literally: it removes tabs and newlines anywhere, strips leading and trailing spaces
and control characters, and treats `\\` as `/` (WHATWG URL standard). So `/\\t/evil.example/` and `/\\evil.example`
both reach `//evil.example/`, a protocol-relative link off-site. The target is normalised that way first, then
refused when it names a scheme or a host, or does not start with a single `/`; the normalised form is what the
redirect sends, so the browser follows exactly what was checked.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_TAB_OR_NEWLINE = re.compile(r"[\t\r\n]")
_C0_OR_SPACE = "".join(chr(code) for code in range(0x21))


def browser_normalised(target: str) -> str:
    """`target` as a browser's URL parser sees it before resolving it."""
    return _TAB_OR_NEWLINE.sub("", target).strip(_C0_OR_SPACE).replace("\\", "/")


def safe_redirect_target(target: str | None, fallback: str) -> str:
    """`target` normalised if it is a path on this site (`/...`, not `//...`), else `fallback`."""
    if not target:
        return fallback
    path = browser_normalised(target)
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//"):
        return fallback
    return path
