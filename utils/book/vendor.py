"""Front-end files for the offline book and slides, installed from the npm registry (never from a CDN).

``utils/vendor/package.json`` and its ``package-lock.json`` pin reveal.js, require.js, jQuery and MathJax 2
with integrity hashes; ``npm ci`` installs exactly those into ``build/vendor/node_modules``. Pages in
``build/`` then load them by relative URL, so the book and the slides render without internet.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from utils.environment import REPO_ROOT

ROOT = REPO_ROOT
LOCK_DIR = Path(__file__).with_name("vendor_lock")
VENDOR = ROOT / "build" / "vendor"
FILES = {  # what the pages load, relative to build/vendor/node_modules
    "reveal": "reveal.js/dist/reveal.js",
    "reveal_notes": "reveal.js/plugin/notes/notes.js",
    "require": "requirejs/require.js",
    "jquery": "jquery/dist/jquery.min.js",
    "mathjax": "mathjax/MathJax.js",
}
MATHJAX_CONFIG = "?config=TeX-AMS_CHTML-full,Safe"


def is_installed() -> bool:
    """True when every vendored file is present and the installed lock equals the committed one."""
    installed_lock = VENDOR / "package-lock.json"
    return (
        installed_lock.is_file()
        and installed_lock.read_bytes() == (LOCK_DIR / "package-lock.json").read_bytes()
        and all((VENDOR / "node_modules" / path).is_file() for path in FILES.values())
    )


def install(log=print) -> Path:
    """Install the pinned front-end packages into build/vendor (no-op when already there); return the folder.

    Raises RuntimeError with the fix when npm is missing or the install fails.
    """
    if is_installed():
        return VENDOR
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm is needed to install reveal.js and MathJax for the offline book and slides: "
            "install Node.js (Debian: apt-get install -y npm), then rerun the make target"
        )
    VENDOR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(LOCK_DIR / name, VENDOR / name)
    log("installing reveal.js, require.js, jQuery and MathJax from the npm registry (pinned, with integrity hashes)")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=VENDOR, capture_output=True, text=True
    )
    if result.returncode != 0 or not is_installed():
        raise RuntimeError(
            f"npm ci failed in build/vendor:\n{result.stderr.strip()[-2000:]}\n"
            "Check that the npm registry is reachable, then rerun the make target."
        )
    return VENDOR


def url(name: str, page_dir: Path) -> str:
    """Relative URL of a vendored file (``name`` a key of FILES, or "reveal_prefix") from a page in ``page_dir``."""
    base = Path("..") if page_dir.resolve() != (ROOT / "build").resolve() else Path(".")
    prefix = (base / "vendor" / "node_modules").as_posix()
    if name == "reveal_prefix":
        return f"{prefix}/reveal.js"
    if name not in FILES:
        raise ValueError(f"unknown vendored file {name!r}; known: {', '.join(FILES)}")
    return f"{prefix}/{FILES[name]}" + (MATHJAX_CONFIG if name == "mathjax" else "")
