"""The scaling course run is notebook 19's pretraining, proven equal to the notebook's cells, and builds, loads and
rebuilds like the other course assets.

- ``utils.pretraining`` against notebook 19's own cells (executed, smoke mode: the first 80 standard-library files):
  the same file list, the same deduplicated split, the same tokenizer vocabulary and merges, the same packed blocks,
  the same Llama config; the course run's training settings are the notebook's section 7 ``TrainingArguments``.
- ``without_positions``: logits no longer depend on the position ids (they do with RoPE on); with one layer the last
  token cannot tell the order of the tokens before it, with two layers it can (what notebook 19 section 7c shows);
  the notebook's own ``without_positions`` gives the same model.
- ``block_losses`` equals the model's own loss block by block; ``unigram_block_losses`` is the add-one unigram.
- a smoke build writes its results and card, loads by name without rebuilding, and a changed setting rebuilds it.
"""

from __future__ import annotations

import dataclasses
import re
import shutil

import numpy as np
import pytest
import torch

from tests.notebook_code import NOTEBOOKS, notebook_cell, run_cells
from utils import arithmetic, pretraining
from utils.course import course_runs
from utils.course.resolve import course_run

NOTEBOOK = NOTEBOOKS / "19_pretraining_from_scratch.ipynb"


@pytest.fixture(scope="module")
def nb(monkeypatch_module):
    monkeypatch_module.setenv("LLM_RETREAT_SMOKE", "1")
    namespace = run_cells(
        NOTEBOOK,
        [
            "from transformers import (AutoConfig",
            "left_out = {",
            "def normalise(",
            "def split_of(",
            "bpe = Tokenizer(models.BPE())",
            "def tokenize_function(",
            "tokenized_datasets = raw_datasets.map(",
            "def llama_config(",
        ],
    )
    yield namespace
    shutil.rmtree(namespace["scratch"], ignore_errors=True)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def ours(nb):
    splits = pretraining.corpus(pretraining.stdlib_paths(len(nb["paths"])))
    tokenizer = pretraining.train_tokenizer([row["text"] for row in splits["train"]])
    return splits, tokenizer


def test_the_corpus_is_notebook_19s(nb, ours):
    splits, _ = ours
    assert pretraining.stdlib_paths(len(nb["paths"])) == nb["paths"]
    for split in ("train", "validation"):
        assert splits[split] == list(nb["raw_datasets"][split])
    assert splits["validation"], "the sample should hold validation files too"


def test_the_tokenizer_and_the_blocks_are_notebook_19s(nb, ours):
    splits, tokenizer = ours
    assert tokenizer.get_vocab() == nb["tokenizer"].get_vocab()
    assert tokenizer.backend_tokenizer.to_str() == nb["tokenizer"].backend_tokenizer.to_str()
    for split in ("train", "validation"):
        blocks = pretraining.pack(tokenizer, [row["text"] for row in splits[split]])
        assert blocks == nb["lm_datasets"][split]["input_ids"]


def test_the_config_and_the_parameter_count_are_notebook_19s(nb, ours):
    _, tokenizer = ours
    for args, kwargs in [((96, 3, 256), {}), ((128, 4, 384), {}), ((192, 6, 512), {"heads": 6})]:
        mine, theirs = pretraining.llama_config(tokenizer, *args, **kwargs), nb["llama_config"](*args, **kwargs)
        assert mine.to_dict() == theirs.to_dict()
    assert pretraining.n_params(nb["model"]) == nb["n_params"](nb["model"])


def test_the_scaling_recipe_is_notebook_19s_section_7():
    cell = notebook_cell(NOTEBOOK, "size_args = TrainingArguments(")
    settings = course_runs.spec("pretraining-scaling").full
    assert float(re.search(r"learning_rate=([\d.e-]+)", cell).group(1)) == settings.learning_rate == 3e-3
    assert 'lr_scheduler_type="cosine"' in cell and "warmup_steps=0.1" in cell and "weight_decay=0.1" in cell
    assert int(re.search(r"batch_size = (\d+)", notebook_cell(NOTEBOOK, "batch_size = 16")).group(1)) == 16
    assert settings.batch_size == 16 and settings.block_size == 128 and settings.vocab_size == 4096
    sizes = {s.name: s for s in settings.sizes}
    sized = notebook_cell(NOTEBOOK, "scaling_configs = {")
    assert "llama_config(hidden_size=96, num_layers=3, intermediate_size=256)" in sized
    assert "llama_config(hidden_size=192, num_layers=6, intermediate_size=512, heads=6)" in sized
    assert (sizes["small"].hidden_size, sizes["small"].num_layers, sizes["small"].intermediate_size) == (96, 3, 256)
    assert (sizes["large"].hidden_size, sizes["large"].heads) == (192, 6)
    assert "config = llama_config(hidden_size=128, num_layers=4, intermediate_size=384)" in notebook_cell(
        NOTEBOOK, "def llama_config("
    )
    assert (sizes["medium"].hidden_size, sizes["medium"].num_layers, sizes["medium"].intermediate_size) == (128, 4, 384)


def small_model(tokenizer, layers: int, positions: bool):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(pretraining.llama_config(tokenizer, 32, layers, 64))
    return (pretraining.without_positions(model) if not positions else model).eval()


def test_without_positions_the_position_ids_do_not_matter(ours):
    _, tokenizer = ours
    ids = torch.tensor([tokenizer("def add(a, b):\n    return a + b\n")["input_ids"]])
    positions = torch.arange(ids.shape[1])[None]
    for use_positions, differs in [(True, True), (False, False)]:
        model = small_model(tokenizer, 2, use_positions)
        with torch.no_grad():
            a = model(input_ids=ids, position_ids=positions).logits
            b = model(input_ids=ids, position_ids=3 * positions + 5).logits
        assert (not torch.allclose(a, b, atol=1e-6)) == differs


@pytest.mark.parametrize("layers, order_matters", [(1, False), (2, True)])
def test_a_causal_model_without_positions_sees_order_only_from_its_second_layer(ours, layers, order_matters):
    _, tokenizer = ours
    ids = torch.tensor([tokenizer("x = load(path)\nprint(x)")["input_ids"]])
    swapped = ids.clone()
    swapped[0, [0, 2]] = ids[0, [2, 0]]  # two earlier tokens change places; the last token stays
    assert not torch.equal(ids, swapped)
    model = small_model(tokenizer, layers, positions=False)
    with torch.no_grad():
        last, last_swapped = model(input_ids=ids).logits[0, -1], model(input_ids=swapped).logits[0, -1]
    assert (not torch.allclose(last, last_swapped, atol=1e-5)) == order_matters


def test_block_losses_are_the_models_own_loss_block_by_block(ours, nb):
    _, tokenizer = ours
    blocks = nb["lm_datasets"]["validation"]["input_ids"][:5]
    model = small_model(tokenizer, 2, positions=True)
    losses = pretraining.block_losses(model, blocks, batch_size=2)
    with torch.no_grad():
        expected = [model(input_ids=torch.tensor([b]), labels=torch.tensor([b])).loss.item() for b in blocks]
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    by_token = pretraining.token_losses(model, blocks, batch_size=3)
    assert by_token.shape == (5, len(blocks[0]) - 1)
    np.testing.assert_allclose(by_token.mean(axis=1), losses, rtol=1e-6)


def test_the_unigram_baseline_is_add_one_frequencies():
    train, blocks = [[0, 1, 1, 2], [2, 2, 2, 1]], [[3, 1, 2, 2], [1, 3, 3, 0]]
    counts = np.array([1, 3, 4, 0]) + 1  # token 3 never seen in training: add-one gives it 1 of 12
    expected = [-np.log(counts[[1, 2, 2]] / 12).mean(), -np.log(counts[[3, 3, 0]] / 12).mean()]
    np.testing.assert_allclose(pretraining.unigram_block_losses(train, blocks, 4), expected)


def test_a_smoke_build_loads_by_name_and_rebuilds_when_a_setting_changes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path))
    monkeypatch.setenv("LLM_RETREAT_SMOKE", "1")
    name = "pretraining-scaling"
    info = course_run(name)
    results = info["results"]
    settings = course_runs.spec(name).smoke
    assert len(results["runs"]) == len(settings.seeds) * (len(settings.sizes) + 1)
    assert all(len(run["block losses"]) == results["validation blocks"] for run in results["runs"])
    assert all(len(run["position losses"]) == settings.block_size - 1 for run in results["runs"])
    assert {run["positions"] for run in results["runs"]} == {"RoPE", "no positions"}
    assert (course_runs.run_dir(name) / "README.md").read_text(encoding="utf-8").startswith(f"# {name} (course run)")
    assert course_runs.is_built(name)
    capsys.readouterr()
    assert course_run(name) == info
    assert "not built yet" not in capsys.readouterr().out
    changed = dataclasses.replace(course_runs.SPECS[name], smoke=dataclasses.replace(settings, seeds=(1,)))
    monkeypatch.setitem(course_runs.SPECS, name, changed)
    assert not course_runs.is_built(name)
    assert course_run(name)["results"]["runs"][0]["seed"] == 1


def test_an_unknown_course_run_names_the_valid_ones():
    with pytest.raises(ValueError, match="pretraining-scaling"):
        course_runs.spec("scaling")


def test_without_positions_is_the_notebooks_own(nb, ours, capsys):
    run_cells(NOTEBOOK, ["def without_positions("], nb)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and printed[0].startswith("1 layer(s)") and printed[1].startswith("2 layer(s)")
    _, tokenizer = ours
    ids = torch.tensor([tokenizer("for item in items:\n    yield item")["input_ids"]])
    ours_model, theirs = small_model(tokenizer, 2, positions=False), small_model(tokenizer, 2, positions=True)
    nb["without_positions"](theirs)
    with torch.no_grad():
        assert torch.equal(ours_model(input_ids=ids).logits, theirs(input_ids=ids).logits)


# ---------------------------------------------------------------- reward-hacking (notebook 21, section 5)


@pytest.mark.assets
def test_the_reward_hacking_run_scores_both_verifiers_on_the_held_out_problems():
    info = course_run("reward-hacking")  # a smoke build: seconds
    settings = course_runs.spec("reward-hacking").settings()
    results = info["results"]
    assert [row["step"] for row in results["history"]] == list(range(1, settings.steps + 1))
    steps = sorted(int(step) for step in results["checkpoints"])
    assert steps[0] == 0 and steps[-1] == settings.steps
    for scores in results["checkpoints"].values():
        assert len(scores["replies"]) == settings.eval_problems
        answers = [p["answer"] for p in course_runs.course_models.held_out_problems(settings.eval_problems)]
        assert scores["paid"] == [arithmetic.lenient_reward(r, a) == 1.0 for r, a in zip(scores["replies"], answers)]
        assert scores["right"] == [
            arithmetic.correctness_reward(r, a) == 1.0 for r, a in zip(scores["replies"], answers)
        ]
    card = (course_runs.run_dir("reward-hacking") / "README.md").read_text(encoding="utf-8")
    assert "| after step | paid by the lenient verifier |" in card


def test_a_change_in_the_course_models_code_rebuilds_reward_hacking_only(tmp_path, monkeypatch):
    """reward-hacking runs the course models' GRPO step, the scaling study does not: only the first is rebuilt."""
    before = {name: course_runs.fingerprint(name) for name in course_runs.names()}
    extra = tmp_path / "grpo_step.py"
    extra.write_text("changed = True\n")
    files = course_runs.course_models.code_files()
    monkeypatch.setattr(course_runs.course_models, "code_files", lambda: (*files, extra))
    assert course_runs.fingerprint("reward-hacking") != before["reward-hacking"]
    assert course_runs.fingerprint("pretraining-scaling") == before["pretraining-scaling"]
