"""utils.corpus: the deterministic Python-source corpus that notebook 08 builds its big dataset from."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utils.corpus import corpus_batches, corpus_fingerprint, iter_corpus, python_source_files, python_source_roots


@pytest.fixture()
def roots(tmp_path):
    """Two small roots, one nested inside the other like site-packages inside a plain stdlib."""
    stdlib = tmp_path / "lib"
    purelib = stdlib / "site-packages"
    files = {
        stdlib / "b.py": "b = 2\n",
        stdlib / "a.py": "a = 1\n",
        stdlib / "pkg" / "z.py": "z = 'é'\n",
        stdlib / "empty.py": "",
        stdlib / "notes.txt": "not python",
        stdlib / "dist-packages" / "foreign.py": "third_party = True\n",  # not the standard library
        purelib / "thing" / "__init__.py": "x = 1\n",
        purelib / "bad.py": b"caf\xe9 = 3\n",  # latin-1 bytes: must be read with errors="replace"
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return {"stdlib": stdlib, "purelib": purelib}


def test_listing_is_sorted_nested_roots_once_and_skips_empty_files(roots):
    listed = [(f.source, f.relative_path) for f in python_source_files(roots)]
    assert listed == [
        ("stdlib", "a.py"),
        ("stdlib", "b.py"),
        ("stdlib", "pkg/z.py"),
        ("purelib", "bad.py"),
        ("purelib", "thing/__init__.py"),
    ]


def test_target_size_is_reached_with_repeated_passes(roots):
    files = python_source_files(roots)
    one_pass = sum(len(f.path.read_text(encoding="utf-8", errors="replace").encode()) for f in files)
    records = list(iter_corpus(2 * one_pass + 1, files))
    total = sum(len(r["text"].encode()) for r in records)
    assert total >= 2 * one_pass + 1
    assert total - len(records[-1]["text"].encode()) < 2 * one_pass + 1  # stops at the first record that reaches it
    assert [r["pass"] for r in records] == [0] * 5 + [1] * 5 + [2]
    assert records[0] == {"source": "stdlib", "path": "a.py", "pass": 0, "text": "a = 1\n"}
    assert records[3]["text"] == "caf\ufffd = 3\n"


@settings(max_examples=25, deadline=None)
@given(target=st.integers(min_value=1, max_value=200), batch_size=st.integers(min_value=1, max_value=7))
def test_deterministic_and_batches_regroup_the_same_records(tmp_path_factory, target, batch_size):
    base = tmp_path_factory.mktemp("corpus")
    for i in range(4):
        (base / f"m{i}.py").write_text(f"value_{i} = {i * 'x'!r}\n")
    files = python_source_files({"stdlib": base})
    records = list(iter_corpus(target, files))
    assert records == list(iter_corpus(target, python_source_files({"stdlib": base})))
    batches = list(corpus_batches(target, batch_size, files))
    assert all(len(b["text"]) == batch_size for b in batches[:-1]) and 1 <= len(batches[-1]["text"]) <= batch_size
    regrouped = [{key: b[key][i] for key in b} for b in batches for i in range(len(b["text"]))]
    assert regrouped == records


def test_fingerprint_changes_with_target_and_files(roots):
    files = python_source_files(roots)
    assert corpus_fingerprint(1000, files) == corpus_fingerprint(1000, python_source_files(roots))
    assert corpus_fingerprint(1000, files) != corpus_fingerprint(1001, files)
    (roots["purelib"] / "new.py").write_text("new = True\n")
    assert corpus_fingerprint(1000, python_source_files(roots)) != corpus_fingerprint(1000, files)


@pytest.mark.parametrize("target", [0, -5, 1.5, "10", True])
def test_bad_target_is_refused(roots, target):
    with pytest.raises(ValueError, match="target_bytes must be a positive integer, got"):
        next(iter_corpus(target, python_source_files(roots)))


def test_bad_batch_size_missing_root_and_empty_root(roots, tmp_path):
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        next(corpus_batches(10, 0, python_source_files(roots)))
    with pytest.raises(FileNotFoundError, match="source root 'stdlib' is not a folder"):
        python_source_files({"stdlib": tmp_path / "nowhere"})
    (tmp_path / "void").mkdir()
    with pytest.raises(ValueError, match="no .py files found under"):
        python_source_files({"stdlib": tmp_path / "void"})
    with pytest.raises(ValueError, match="no source roots given"):
        python_source_files({})


def test_the_real_environment_holds_a_large_corpus():
    roots = python_source_roots()
    assert set(roots) == {"stdlib", "purelib"} and all(Path(p).is_dir() for p in roots.values())
    files = python_source_files()
    assert len(files) > 1000 and {f.source for f in files} == {"stdlib", "purelib"}
    first = list(iter_corpus(1_000_000, files))
    assert sum(len(r["text"].encode()) for r in first) >= 1_000_000
    assert first == list(iter_corpus(1_000_000, files))
