"""Drive the app in Debian's Chromium with Playwright: the browser test's helpers and the README's screenshots.

``python tests/screenshots.py`` launches the app in-process, uses every tab the way a person would
(restore an example, degrade and restore in the playground, analyse an image, read the model card
at its evaluation) and saves one screenshot per tab in ``assets/screenshots/``. It uses the
shipped weights when they exist, else tiny random-weight models (``--tiny`` forces those; the
pictures then show untrained output).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from studio_env import ROOT, free_port, studio_app  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 120_000


@contextmanager
def serve(demo):
    """The app (its built ``gr.Blocks``) on a free local port for the duration of the block; yields its URL."""
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextmanager
def chromium_page(width: int = 1400, height: int = 1000):
    """A headless Chromium page (Debian's browser: none can be downloaded here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def fetch_image(page, src: str) -> np.ndarray:
    """Download an image the page shows and decode it to HxWx3 uint8."""
    response = page.request.get(src)
    assert response.ok, f"GET {src} -> {response.status}"
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


def slider_images(page, elem_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Wait until an ImageSlider shows two loaded images; return (before, after) as arrays."""
    selector = f"#{elem_id} img[data-testid='imageslider-image']"
    page.wait_for_function(
        "sel => { const im = document.querySelectorAll(sel);"
        " return im.length === 2 && [...im].every(i => i.complete && i.naturalWidth > 0); }",
        arg=selector,
    )
    imgs = page.locator(selector)
    return fetch_image(page, imgs.nth(0).get_attribute("src")), fetch_image(page, imgs.nth(1).get_attribute("src"))


def upload(page, elem_id: str, path: Path) -> None:
    """Put a file into an image input and wait for its preview."""
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))
    page.locator(f"#{elem_id} img").first.wait_for(state="visible")


def restore_in_page(page, url: str, image: Path) -> tuple[np.ndarray, np.ndarray]:
    """Open the app, upload ``image`` in the Restore tab, click Restore; returns the slider's images."""
    page.goto(url)
    upload(page, "restore-input", image)
    page.click("#restore-button")
    return slider_images(page, "restore-slider")


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def wait_for_image(page, elem_id: str) -> None:
    """Wait until a plot or image component shows a loaded picture (not its loading spinner)."""
    page.wait_for_function(
        "sel => { const im = document.querySelector(sel); return im && im.complete && im.naturalWidth > 0; }",
        arg=f"#{elem_id} img",
    )


def shoot(page, path: Path, *, full_page: bool = True) -> Path:
    """A screenshot as JPEG (photos inside make PNGs several times larger): the whole page, or
    what the window shows (``full_page=False``)."""
    page.screenshot(path=path, full_page=full_page, type="jpeg", quality=85)
    return path


def take_screenshots(app, out_dir: Path) -> list[Path]:
    """One screenshot per tab, each after using it; returns the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    example = ROOT / "restore" / "assets" / "examples" / "rock_face.jpg"
    from studio.restore_tab import restore_examples

    made = restore_examples()  # degraded examples: something to restore
    degraded = Path(made[1]) if len(made) > 1 else example
    shots = []
    with serve(app.build_demo()) as url, chromium_page() as page:
        restore_in_page(page, url, degraded)
        wait_for_image(page, "restore-map")
        shots.append(shoot(page, out_dir / "restore.jpg"))

        open_tab(page, "Playground")
        upload(page, "playground-input", example)
        page.click("#degrade-restore-button")
        wait_for_image(page, "playground-detected")
        slider_images(page, "playground-slider")
        shots.append(shoot(page, out_dir / "playground.jpg"))

        open_tab(page, "Inside the model")
        upload(page, "inside-input", degraded)
        page.click("#analyze-button")
        wait_for_image(page, "inside-pca")
        page.click("#redegrade-button")
        wait_for_image(page, "redegrade-again")
        shots.append(shoot(page, out_dir / "inside.jpg"))

        open_tab(page, "About")
        page.get_by_role("heading", name="Known limits").wait_for()
        # The card runs to many screens: show one, at the evaluation's widest table.
        page.get_by_role("heading", name="Evaluation", exact=True).evaluate("e => e.scrollIntoView()")
        shots.append(shoot(page, out_dir / "about.jpg", full_page=False))
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshots")
    parser.add_argument("--tiny", action="store_true", help="use tiny random-weight models, not the shipped weights")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    if args.tiny or not any((ROOT / "restore" / "assets" / "weights").glob("*.safetensors")):
        app = studio_app()
    else:
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        sys.path.insert(0, str(ROOT))
        import app
    for path in take_screenshots(app, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
