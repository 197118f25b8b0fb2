"""End to end in a real browser: Playwright drives Debian's Chromium against the app served in-process."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from screenshots import CHROMIUM, open_tab, serve, slider_images, upload
from studio_env import ROOT, single_thread_torch, studio_demo

from restore.images import load_image

EXAMPLE = ROOT / "restore" / "assets" / "examples" / "rock_face.jpg"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    with single_thread_torch():
        yield


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{CHROMIUM} is missing in CI: the browser test must run there (.ci/run installs chromium)")
    pytest.skip(f"{CHROMIUM} is missing: install Debian's browser with `apt-get install chromium` to run this test")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    _require_chromium()
    with serve(studio_demo()) as address:
        yield address


@pytest.fixture
def page():
    from screenshots import chromium_page

    with chromium_page() as p:
        yield p


def _watch_disabled(page, selector: str) -> None:
    """Record in the page whether the element ever gets the ``disabled`` attribute (a job may be
    too quick to catch by polling)."""
    page.evaluate(
        """sel => { const el = document.querySelector(sel); window.__wasDisabled = el.disabled;
        new MutationObserver(() => { if (el.disabled) window.__wasDisabled = true; })
            .observe(el, {attributes: true, attributeFilter: ['disabled']}); }""",
        selector,
    )


def test_restore_in_a_real_browser(url: str, page, tmp_path: Path) -> None:
    page.goto(url)
    assert page.locator("#restore-map").count() == 0 or not page.locator("#restore-map").is_visible()
    upload(page, "restore-input", EXAMPLE)
    _watch_disabled(page, "#restore-button")
    page.click("#restore-button")
    before, after = slider_images(page, "restore-slider")
    page.locator("#restore-map img").wait_for()  # the model's view appears once there is a result
    page.screenshot(path=tmp_path / "restore.png", full_page=True)
    message = page.locator("#restore-button").locator("xpath=../..").inner_text()
    original = load_image(EXAMPLE)
    assert before.shape == after.shape == original.shape
    np.testing.assert_array_equal(before, original)  # the slider's left is the upload itself
    assert np.abs(after.astype(int) - original.astype(int)).mean() > 1.0, "the after-image equals the input"
    assert (tmp_path / "restore.png").stat().st_size > 10_000
    assert "Error" not in message
    assert page.evaluate("window.__wasDisabled"), "Restore stayed clickable while the job ran"
    page.locator("#restore-button:not([disabled])").wait_for()  # and is clickable again after it
    link = page.locator("#restore-file a").first.get_attribute("href")
    assert link.endswith("/rock_face_restored.png"), link  # the download keeps the photo's name


def test_restore_errors_reenable_the_button(url: str, page, tmp_path: Path) -> None:
    bad = tmp_path / "holiday.png"
    bad.write_text("not a picture")
    page.goto(url)
    page.locator("#restore-input input[type=file]").set_input_files(str(bad))
    page.locator("#restore-button:not([disabled])").wait_for()
    _watch_disabled(page, "#restore-button")
    page.click("#restore-button")
    # Gradio 6's toast heads every error "Error" (the title reaches API clients); the message says what is wrong
    page.get_by_test_id("toast-text").get_by_text("holiday.png is not an image").wait_for()
    page.locator("#restore-button:not([disabled])").wait_for()
    assert page.evaluate("window.__wasDisabled")


def test_playground_results_appear_next_to_their_buttons(url: str, page) -> None:
    page.goto(url)
    open_tab(page, "Playground")
    upload(page, "playground-input", EXAMPLE)
    viewport = page.viewport_size
    button = page.locator("#degrade-restore-button")
    scroll = page.evaluate("window.scrollY")
    button.click()
    slider_images(page, "playground-slider")
    page.locator("#playground-detected img").wait_for()
    assert page.evaluate("window.scrollY") == scroll  # nothing scrolled: what follows is what the user sees
    for what in (button, page.locator("#playground-slider"), page.locator("#playground-metrics")):
        box = what.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (what, box)
    left, result = button.bounding_box(), page.locator("#playground-slider").bounding_box()
    assert result["x"] > left["x"] + left["width"]  # beside the buttons, in the right column
    assert "restored (ndr-restore)" in page.locator("#playground-metrics").inner_text()


def test_compare_models_has_its_own_labelled_view_with_each_models_time(url: str, page) -> None:
    page.goto(url)
    upload(page, "restore-input", EXAMPLE)
    page.click("#compare-button")
    left, right = slider_images(page, "compare-slider")
    assert left.shape == right.shape == load_image(EXAMPLE).shape
    tab = page.get_by_role("tab", name="Compare models: ndr-restore | dfpir")
    assert tab.is_visible() and tab.get_attribute("aria-selected") == "true"
    assert page.locator("#compare-slider").get_by_text("ndr-restore (left) | dfpir (right)").is_visible()
    info = page.locator("#compare-info").inner_text()
    assert "ndr-restore" in info and "dfpir" in info
    assert len(re.findall(r"\d+\.\d\d s", info)) == 2, info
    page.locator("#compare-button:not([disabled])").wait_for()
    page.locator("#restore-button:not([disabled])").wait_for()


def test_inside_states_its_verdict_in_words(url: str, page) -> None:
    page.goto(url)
    open_tab(page, "Inside the model")
    upload(page, "inside-input", EXAMPLE)
    page.click("#analyze-button")
    page.locator("#inside-pca img").wait_for()
    verdict = page.locator("#inside-verdict")
    verdict.get_by_text(re.compile("^(Detected|No clear degradation)")).wait_for()
    page.locator("#analyze-button:not([disabled])").wait_for()


def test_restore_examples_run_through_the_lazy_cache(url: str, page) -> None:
    page.goto(url)
    page.locator("#restore-examples button.gallery-item").first.click()
    before, after = slider_images(page, "restore-slider")
    assert before.shape == after.shape and not np.array_equal(before, after)
    page.locator("#restore-map img").wait_for()
