"""End to end in a real browser: Playwright drives Debian's Chromium against the app served in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from screenshots import CHROMIUM, restore_in_page, serve
from studio_env import ROOT, single_thread_torch, studio_demo

from restore.images import load_image


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


def test_restore_in_a_real_browser(tmp_path: Path) -> None:
    _require_chromium()
    from screenshots import chromium_page

    example = ROOT / "restore" / "assets" / "examples" / "rock_face.jpg"
    with serve(studio_demo()) as url, chromium_page() as page:
        before, after = restore_in_page(page, url, example)
        page.screenshot(path=tmp_path / "restore.png", full_page=True)
        message = page.locator("#restore-button").locator("xpath=../..").inner_text()
    original = load_image(example)
    assert before.shape == after.shape == original.shape
    np.testing.assert_array_equal(before, original)  # the slider's left is the upload itself
    assert np.abs(after.astype(int) - original.astype(int)).mean() > 1.0, "the after-image equals the input"
    assert (tmp_path / "restore.png").stat().st_size > 10_000
    assert "Error" not in message
