"""The theme block as a shopper meets it: `/demo/theme` (a theme's cart page holding the block)
loaded N times in headless Chromium; time from navigation start to the cards in the DOM, and
the layout shift the page shows.

    python benchmarks/theme_block.py [--runs 50] [--warmup 3] [--url URL] [--json OUT]

Without `--url` it starts `cartwise demo` (gunicorn, the bundled sample store imported and
trained into a temporary SQLite file) on a free local port, and stops it at the end. Each run
is a fresh browser context: empty HTTP cache, new session, the first visit of a shopper. Figures
come from the page's Performance API: the script's `cartwise:request` and `cartwise:rendered`
marks (ms since navigation start) and a `layout-shift` PerformanceObserver installed before
the page loads (CLS as Chromium counts it, shifts after input left out). Needs Chromium at
/usr/bin/chromium (or `--chromium PATH`) and the dev extra (playwright).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local_servers import free_port, wait_up
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
CART = "22423,85123A"
SETTLE_MS = 300
"""How long each run watches the page after the block is final, for late shifts."""

OBSERVER = """
window.__cls = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__cls += entry.value;
}).observe({ type: "layout-shift", buffered: true });
"""
FIGURES = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const first = (name) => performance.getEntriesByName(name)[0] || null;
  const request = first("cartwise:request");
  const done = first("cartwise:rendered") || first("cartwise:empty");
  return {
    rendered_ms: done && done.name === "cartwise:rendered" ? done.startTime : null,
    request_ms: request ? request.startTime : null,
    waited_ms: request && done ? done.startTime - request.startTime : null,
    dom_content_loaded_ms: nav.domContentLoadedEventEnd,
    source: done && done.detail ? done.detail.source : null,
    cls: window.__cls,
  };
}"""


@contextmanager
def cartwise_demo() -> Iterator[str]:
    """`cartwise demo` in a temporary working directory (its SQLite file lands there)."""
    port = free_port()
    cmd = [str(Path(sys.executable).with_name("cartwise")), "demo", "--port", str(port)]
    with tempfile.TemporaryDirectory(prefix="cartwise-theme-bench-") as workdir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARTWISE_")}
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_up(port, proc, 120, poll=0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def one_run(browser: Browser, url: str) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.add_init_script(OBSERVER)
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector(".cw-recs[data-state=ready], .cw-recs[data-state=empty]")
        page.wait_for_load_state("load")
        page.wait_for_timeout(SETTLE_MS)
        figures: dict[str, Any] = page.evaluate(FIGURES)
        return figures
    finally:
        context.close()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 95), 1),
        "max": round(max(values), 1),
    }


def run(base: str, runs: int, warmup: int, chromium: str, cart: str) -> dict[str, Any]:
    url = f"{base}/demo/theme?cart={cart}"
    results: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for _ in range(warmup):
                one_run(browser, url)
            results = [one_run(browser, url) for _ in range(runs)]
        finally:
            browser.close()
    rendered = [r["rendered_ms"] for r in results if r["rendered_ms"] is not None]
    if not rendered:
        raise SystemExit(f"the block rendered no cards in {runs} runs: {results[:3]}")
    return {
        "url": url,
        "runs": runs,
        "rendered_runs": len(rendered),
        "sources": dict(Counter(str(r["source"]) for r in results)),
        "time_to_rendered_ms": summary(rendered),
        "request_start_ms": summary([r["request_ms"] for r in results]),
        "api_wait_ms": summary([r["waited_ms"] for r in results]),
        "dom_content_loaded_ms": summary([r["dom_content_loaded_ms"] for r in results]),
        "cls": summary([r["cls"] for r in results]),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--url", help="a running demo-mode server (default: start cartwise demo)")
    parser.add_argument("--cart", default=CART, help="product ids in the cart, comma-separated")
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.url:
        report = run(args.url.rstrip("/"), args.runs, args.warmup, args.chromium, args.cart)
    else:
        with cartwise_demo() as base:
            report = run(base, args.runs, args.warmup, args.chromium, args.cart)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
