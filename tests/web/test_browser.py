"""End to end in a real browser: Debian's Chromium (headless, through Playwright) drives the web app served by
waitress over real HTTP, with the session's real Redis and local_openai (tests/conftest.py), a real Celery worker
process, and local_openai training `local-tfidf`.

It uploads a CSV through the form, checks the pre-launch report, launches with a validation sample, watches the
live page reach finished results (the loss chart appearing on the run's card), and saves screenshots of the form and
of the result page under var/screenshots/.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.stack import free_port, http_ok

playwright = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
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
DATASETS = {
    "sample": ROOT / "shared" / "sample_data" / "airline_tweets_sample.csv",
    "tweets": ROOT.parent / "shared" / "data" / "Tweets.csv",
}
MODELS = ["local-tfidf"]  # trains in about a second; local-minilm works the same way but takes minutes on a CPU
FINISH_TIMEOUT_MS = 8 * 60 * 1000

pytestmark = pytest.mark.slow


@pytest.fixture
def web_url(tq_stack, start_worker) -> Iterator[str]:
    """The session's Redis and local_openai (tests/conftest.py), a worker, and the web app served by waitress."""
    start_worker(concurrency=2)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**tq_stack.env, "SECRET_KEY": "browser-test-secret", "PYTHONPATH": str(ROOT)}
    env.pop("WEB_AUTH_TOKEN", None)
    web = tq_stack.spawn(
        "web",
        [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--call", "web:create_app"],
        lambda: http_ok(f"{url}/experiments", 0.5),
        timeout_s=60,
        env=env,
    )
    yield url
    web.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_upload_launch_and_watch_to_results(web_url: str, browser, dataset: str) -> None:
    csv_path = DATASETS[dataset]
    if not csv_path.exists():
        pytest.skip(f"{csv_path} is not on this machine")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{web_url}/experiments/new")
    page.set_input_files("#file", str(csv_path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#experiment-form")
    assert page.input_value("#text_column") == "text"
    assert page.input_value("#label_column") == "airline_sentiment"
    assert page.locator("#class-counts li").count() == 3

    page.select_option("#preset", "consistent")
    assert page.input_value("#user_template") == "{text}"
    page.select_option("#preset", "reference")
    assert "tweet: {text}" in page.input_value("#user_template")
    for model in MODELS:
        page.check(f"#experiment-form input[name=models][value={model}]")
    page.click("#check-button")
    page.wait_for_selector("#report")
    assert "passes validation" in page.text_content("#report")
    assert all(model in page.text_content("#estimates") for model in MODELS)
    page.fill("#suffix", "web")
    page.fill("#validation_count", "5")
    assert page.locator("#launch-button").is_hidden(), "a changed setting needs a new check before launch"
    page.click("#check-button")
    page.wait_for_selector("#launch-button")
    page.screenshot(path=str(SCREENSHOTS / f"new-experiment-form-{dataset}.png"), full_page=True)

    page.click("#launch-button")
    page.wait_for_url("**/experiments/exp_*")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads: the updates must come without one
    try:
        page.wait_for_selector('#experiment[data-live="done"]', state="attached", timeout=FINISH_TIMEOUT_MS)
    finally:
        page.screenshot(path=str(SCREENSHOTS / f"experiment-result-{dataset}.png"), full_page=True)
    assert page.text_content("#exp-status") == "succeeded", page.text_content("#experiment")
    assert page.evaluate("window.loadedOnce === true"), "the live page reloaded instead of updating in place"
    assert page.locator("#cancel-form").is_hidden(), "a finished experiment offers no cancel"
    page.wait_for_selector("#comparison")
    assert page.locator("#comparison tbody tr").count() == len(MODELS)
    for number, model in enumerate(MODELS, start=1):
        assert model in page.text_content("#comparison")
        assert page.text_content(f'[data-run-id="run-{number}"] [data-field="progress"]') == "100/100"
        assert ":web:" in page.text_content(f'[data-run-id="run-{number}"] [data-field="fine_tuned_model"]')
    assert page.locator("#predictions-table tbody tr").count() == 100
    images = page.locator(".charts img")
    assert images.count() == 1 + 2 * len(MODELS), "the comparison, then a confusion matrix and a loss chart per run"
    for number in range(1, len(MODELS) + 1):
        loss_chart = page.locator(f'[data-run-id="run-{number}"] [data-field="loss_curve"] img')
        assert loss_chart.is_visible(), "the live page showed the run's loss chart once its job reported a loss"
        assert loss_chart.evaluate("image => image.complete && image.naturalWidth > 0")
        assert "/charts/loss/run-" in loss_chart.get_attribute("src")
    for index in range(images.count()):
        images.nth(index).scroll_into_view_if_needed()
        assert images.nth(index).evaluate("image => image.complete && image.naturalWidth > 0")
    page.screenshot(path=str(SCREENSHOTS / f"experiment-result-{dataset}.png"), full_page=True)
    assert not errors, f"JavaScript errors on the pages: {errors}"
    page.close()


def test_dataset_text_stays_inert_in_the_browser(web_url: str, browser, tmp_path: Path) -> None:
    """Markup in cells and labels shows as text in the preview and in the class counts the script fills in."""
    payload = '<img src=x onerror="alert(document.domain)">'
    rows = ["text,label,source"] + [
        f'"{payload} tweet {i}",{payload if i % 2 else "plain"},s{i % 3}' for i in range(30)
    ]
    csv_path = tmp_path / "markup.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{web_url}/experiments/new")
    page.set_input_files("#file", str(csv_path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#experiment-form")
    assert payload in page.text_content("#preview")
    page.select_option("#label_column", "source")
    page.wait_for_selector("#class-counts li >> text=s2")
    page.select_option("#label_column", "label")
    page.wait_for_selector("#class-counts li >> text=plain")
    assert payload in page.text_content("#class-counts")
    assert page.locator("#preview img, #class-counts img").count() == 0
    assert dialogs == []
    page.close()
