"""Look at the rendered site as a reader does: every page in Chromium, on a desktop and a phone.

Run after `quarto render` (`make site-check`). It serves ``_site/`` on 127.0.0.1, opens every
page at 1280 px and at 390 px (a phone, with mobile emulation) and reports, per page:

- the page's width (wider than the screen means the reader pans sideways),
- blocks of code or output whose lines run past their box with nothing to scroll,
- figures without alt text,
- requests to any other host, and requests that fail (404s),
- which part of the site the navbar marks as the one the reader is in.

It writes screenshots of the top of every lab page, the landing page and a few reference
pages to ``_site-review/`` (desktop and phone) with ``report.json``, and exits 1 if any page
fails a check. The structural tests (tests/test_site.py) guard the rules that keep these
right; this is what they cannot see.

Needs Playwright (``pip install playwright``) and a Chromium: Debian's ``/usr/bin/chromium``
or ``playwright install chromium``. Usage: python scripts/check_site.py [_site] [_site-review]
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import sys
import threading
from pathlib import Path

WIDTHS = {"desktop": 1280, "phone": 390}
SHOTS = ("index.html", "solutions/", "reference/index.html", "reference/engine.load.load.html",
         "reference/engine.load.LoadResult.html", "models.html", "glossary.html")

MEASURE = """() => {
  const main = document.querySelector('main') || document.body;
  const cut = [...main.querySelectorAll('pre')].filter(p => {
    const box = p.parentElement;
    const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
    return p.scrollWidth > p.clientWidth + 2 && !scrolls(p) && !scrolls(box);
  }).map(p => p.textContent.trim().slice(0, 40));
  const noAlt = [...main.querySelectorAll('img')].filter(i => !(i.getAttribute('alt') || '').trim()).length;
  const other = performance.getEntriesByType('resource').map(r => r.name)
    .filter(n => !n.startsWith(location.origin) && !n.startsWith('data:'));
  const active = [...document.querySelectorAll('.navbar .nav-link.active')].map(a => a.textContent.trim());
  return {width: document.documentElement.scrollWidth, cut, no_alt: noAlt, other_hosts: other, active};
}"""


def _serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):       # one line per request would bury the report
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None                     # Playwright's own browser, if installed


def check(site: Path, out: Path) -> dict:
    from playwright.sync_api import sync_playwright

    pages = sorted(str(p.relative_to(site)) for p in site.rglob("*.html") if "site_libs" not in p.parts)
    out.mkdir(parents=True, exist_ok=True)
    server, base = _serve(site)
    report: dict = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=_chromium())
            for device, width in WIDTHS.items():
                page = browser.new_page(viewport={"width": width, "height": 900}, is_mobile=width < 500)
                failed: list[str] = []
                page.on("response", lambda r, failed=failed: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
                page.on("requestfailed", lambda r, failed=failed: failed.append(f"failed {r.url}"))
                for name in pages:
                    failed.clear()
                    page.goto(base + name)
                    page.wait_for_load_state("networkidle")
                    row = page.evaluate(MEASURE)
                    row["failed"] = [f.replace(base, "") for f in failed]
                    report.setdefault(name, {})[device] = row
                    if any(name.startswith(s) for s in SHOTS):
                        shot = out / f"{device}-{name.replace('/', '-').removesuffix('.html')}.png"
                        page.screenshot(path=str(shot))
                page.close()
            browser.close()
    finally:
        server.shutdown()
    (out / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def problems(report: dict) -> list[str]:
    found = []
    for name, devices in report.items():
        for device, row in devices.items():
            if row["width"] > WIDTHS[device] + 1:
                found.append(f"{name} ({device}): {row['width']} px wide on a {WIDTHS[device]} px screen")
            if row["cut"]:
                found.append(f"{name} ({device}): {len(row['cut'])} blocks cut off, e.g. {row['cut'][0]!r}")
            if row["no_alt"]:
                found.append(f"{name} ({device}): {row['no_alt']} figures without alt text")
            if row["other_hosts"]:
                found.append(f"{name} ({device}): requests to {sorted(set(row['other_hosts']))}")
            if row["failed"]:
                found.append(f"{name} ({device}): failed requests {row['failed']}")
            if not row["active"]:
                found.append(f"{name} ({device}): the navbar marks no part as current")
    return found


def main(site: str = "_site", out: str = "_site-review") -> int:
    site_dir = Path(site)
    if not (site_dir / "index.html").exists():
        print(f"{site_dir}/index.html is missing: render the site first (quarto render)")
        return 2
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("Playwright is not installed: pip install playwright (and a Chromium: apt install chromium)")
        return 2
    report = check(site_dir, Path(out))
    found = problems(report)
    print(f"{len(report)} pages at {', '.join(f'{w} px' for w in WIDTHS.values())}; screenshots in {out}/")
    for line in found:
        print("  " + line)
    print("no problems found" if not found else f"{len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
