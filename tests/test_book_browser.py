"""The book in a real browser: headless Chromium opens build/index.html and every page it links to.

The book is built from the committed notebooks (``python -m utils.book build``: no execution, seconds).
For every page the browser reports: images that failed to load, local links whose target is missing, and
every resource the page loaded; all must be local files (``file:``/``data:``): the book renders offline.
A screenshot of each page is saved in ``build/screenshots/``.

Chromium and ChromeDriver come from Debian's packages (``make browser``, part of ``make test``). Where they
are missing the test is skipped, unless ``LLM_RETREAT_REQUIRE_BROWSER=1`` (set by CI), where it fails.
"""

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from utils.book import notebooks as book_files
from utils.book import pages as book_pages
from utils.book import workflows as book_workflows

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = book_files.BUILD / "screenshots"
CHECK_PAGE = """
const broken = Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(-80));  // the end: the file name
const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
const resources = performance.getEntriesByType('resource').map(r => r.name);
return {broken, links, resources, title: document.title, text: document.body.innerText.length};
"""


def _browser_available() -> bool:
    return Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()


@pytest.fixture(scope="module")
def driver():
    if not _browser_available():
        message = (
            "Chromium/ChromeDriver not installed: run `make browser` (Debian: apt-get install chromium chromium-driver)"
        )
        if os.environ.get("LLM_RETREAT_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--allow-file-access-from-files",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    chrome.set_page_load_timeout(60)
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def built_book():
    """The book from the committed notebooks; with LLM_RETREAT_BOOK_AS_BUILT=1 (`make check-book`, which `make run`
    calls at its end) the book that is already in build/, as `make run` wrote it."""
    index = book_files.BUILD / "index.html"
    if os.environ.get("LLM_RETREAT_BOOK_AS_BUILT") == "1":
        assert index.is_file(), "no book in build/: run `make run` (or `make book`) first"
        return index
    assert book_pages.build() == 0
    return index


def _visit(driver, url: str, name: str) -> dict:
    driver.get(url)
    driver.execute_script("return document.readyState")
    result = driver.execute_script(CHECK_PAGE)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    return result


def _local_file(url: str) -> Path | None:
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def test_every_page_loads_offline_with_working_links_and_images(driver, built_book):
    index = _visit(driver, built_book.as_uri(), "index")
    pages = sorted({_local_file(link) for link in index["links"] if _local_file(link)}, key=str)
    notebooks = book_files.notebook_paths()
    assert {p.name for p in pages} >= {f"{nb.stem}.html" for nb in notebooks}, "the index must link every notebook"
    problems = []
    for page in [built_book] + pages:
        seen = index if page == built_book else _visit(driver, page.as_uri(), page.stem)
        assert seen["text"] > 200, f"{page.name} rendered almost nothing"
        problems += [f"{page.name}: image failed to load: {src}" for src in seen["broken"]]
        for link in seen["links"]:
            target = _local_file(link)
            if target is not None and not target.exists():
                problems.append(f"{page.name}: broken link to {target.name}")
        problems += [
            f"{page.name}: loaded a non-local resource {url}"
            for url in seen["resources"]
            if urlparse(url).scheme not in ("file", "data")
        ]
    assert not problems, "\n".join(problems)


def test_pages_have_previous_home_next_navigation(driver, built_book):
    notebooks = book_files.notebook_paths()
    first, last = notebooks[0], notebooks[-1]
    seen = _visit(driver, (book_files.BUILD / f"{first.stem}.html").as_uri(), first.stem)
    names = [_local_file(link).name for link in seen["links"] if _local_file(link)]
    assert "index.html" in names and f"{notebooks[1].stem}.html" in names
    seen = _visit(driver, (book_files.BUILD / f"{last.stem}.html").as_uri(), last.stem)
    names = [_local_file(link).name for link in seen["links"] if _local_file(link)]
    assert "index.html" in names and f"{notebooks[-2].stem}.html" in names


def test_the_check_sees_a_broken_image_a_broken_link_and_a_cdn_script(driver, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><body><p>" + "text " * 60 + "</p><img src='missing.png'><a href='nowhere.html'>x</a>"
        "<script src='https://cdn.example.invalid/lib.js'></script></body></html>",
        encoding="utf-8",
    )
    seen = _visit(driver, page.as_uri(), "negative-control")
    assert any("missing.png" in src for src in seen["broken"])
    assert any(_local_file(link) and not _local_file(link).exists() for link in seen["links"])
    assert any(urlparse(url).scheme == "https" for url in seen["resources"])


def test_slides_run_reveal_from_the_local_copy(driver):
    first = book_files.notebook_paths()[0]
    assert book_workflows.slides([first.name[:2]]) == 0
    page = book_files.BUILD / "slides" / f"{first.stem}.slides.html"
    driver.get(page.as_uri())
    import time

    deadline = time.time() + 20
    state = {}
    while time.time() < deadline:
        state = driver.execute_script(
            "return {ready: document.querySelector('.reveal.ready') !== null,"
            " slides: document.querySelectorAll('.reveal .slides > section').length,"
            " resources: performance.getEntriesByType('resource').map(r => r.name)};"
        )
        if state["ready"]:
            break
        time.sleep(0.5)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{first.stem}.slides.png"))
    assert state["ready"], "reveal.js did not start (no .reveal.ready): check build/vendor (make slides installs it)"
    assert state["slides"] >= 3
    assert all(urlparse(url).scheme in ("file", "data") for url in state["resources"]), state["resources"]
