"""Notebook 20 (fine-tuning an LLM): its scorer, its loss mask and its LoRA-by-hand, checked against the libraries;
the sft_extract data checked against the kit's text.

The scorer, the bootstrap, the training chat template and the label rule are the notebook's own cells
(read with tests/notebook_code.py). Each check has a deliberately broken variant that must fail.
"""

from __future__ import annotations

import importlib.util
import json
import random
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.notebook_code import run_cells
from tests.tiny_models import tiny_llama_config
from utils import asset_home

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "20_fine_tuning_an_llm.ipynb"
DATA = ROOT / "data" / "sft_extract"
SMOLLM2 = asset_home() / "models" / "SmolLM2-135M-Instruct"
WIKI_EN = asset_home() / "datasets" / "wiki-en" / "train.jsonl"
needs_smollm2 = pytest.mark.skipif(not (SMOLLM2 / ".complete").is_file(), reason="SmolLM2 not in the asset home")
needs_wiki = pytest.mark.skipif(not (WIKI_EN.parent / ".complete").is_file(), reason="wiki-en not in the asset home")


def make_data():
    spec = importlib.util.spec_from_file_location("make_data", DATA / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(split):
    return [json.loads(line) for line in (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


# ---- the scorer -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scorer():
    namespace = run_cells(
        NOTEBOOK,
        ["def score_reply", "def bootstrap_interval"],
        {"json": json, "np": __import__("numpy"), "pd": __import__("pandas")},
    )
    return namespace


ANSWER = '{"name": "Leeds", "year": 1207, "topic": "geography"}'


@pytest.mark.parametrize(
    "reply,valid,field_accuracy,exact",
    [
        ('{"name": "Leeds", "year": 1207, "topic": "geography"}', True, 1.0, True),
        ('{"topic": "geography", "year": 1207, "name": "Leeds"}', True, 1.0, True),  # key order is free
        ('Here: {"name": "Leeds", "year": 1207, "topic": "geography"} done', False, 1.0, False),  # chatter: invalid
        ('{"name": "Leeds", "year": "1207", "topic": "geography"}', True, 2 / 3, False),  # a year as text is wrong
        ('{"name": "Leeds", "year": 1207.5, "topic": "geography"}', True, 2 / 3, False),
        ('{"name": "Leeds", "year": true, "topic": "geography"}', True, 2 / 3, False),  # bool is not int
        ('{"name": "Leeds", "topic": "geography"}', False, 2 / 3, False),  # a key missing
        ('{"name": "Leeds", "year": 1207, "topic": "geography", "x": 1}', False, 1.0, False),  # an extra key
        ('["Leeds", 1207]', False, 0.0, False),
        ("", False, 0.0, False),
        ('{"name": {"nested": "Leeds"}, "year": 1207, "topic": "geography"}', True, 2 / 3, False),
    ],
)
def test_scorer(scorer, reply, valid, field_accuracy, exact):
    scores = scorer["score_reply"](reply, ANSWER)
    assert (scores["valid"], scores["exact"]) == (valid, exact)
    assert scores["field_accuracy"] == pytest.approx(field_accuracy)


def test_scorer_null_year(scorer):
    answer = '{"year": null, "name": "Leeds"}'
    assert scorer["score_reply"]('{"year": null, "name": "Leeds"}', answer)["exact"]
    assert not scorer["score_reply"]('{"year": "null", "name": "Leeds"}', answer)["year right"]
    assert not scorer["score_reply"]('{"year": 0, "name": "Leeds"}', answer)["year right"]


@given(
    st.dictionaries(
        st.sampled_from(["name", "year", "topic"]),
        st.one_of(st.none(), st.integers(-3000, 3000), st.text(max_size=12)),
        min_size=1,
    ),
    st.text(alphabet=string.printable, max_size=20),
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_scorer_finds_an_answer_inside_any_chatter(scorer, answer, chatter):
    text = json.dumps(answer)
    scores = scorer["score_reply"](text, text)
    assert scores["valid"] and scores["exact"] and scores["field_accuracy"] == 1.0
    if "{" not in chatter:
        assert scorer["score_reply"](chatter + " " + text, text)["field_accuracy"] == 1.0


def test_a_lenient_scorer_would_be_caught(scorer):
    """The broken variant (compare values as text) must disagree with the notebook's scorer on this case."""

    def lenient(reply, answer):
        found, expected = json.loads(reply), json.loads(answer)
        return all(str(found.get(k)) == str(v) for k, v in expected.items())

    reply = '{"name": "Leeds", "year": "1207", "topic": "geography"}'
    assert lenient(reply, ANSWER) and not scorer["score_reply"](reply, ANSWER)["exact"]


def test_bootstrap_interval(scorer):
    interval = scorer["bootstrap_interval"]
    values = [1] * 60 + [0] * 40
    low, high = interval(values)
    assert low < 0.6 < high and 0.45 < low and high < 0.75
    assert interval(values) == interval(values)  # seeded
    assert interval([1] * 10) == (1.0, 1.0)
    wide, narrow = interval([1, 0] * 10), interval([1, 0] * 500)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


# ---- the loss mask ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(SMOLLM2))


def training_template_for(tokenizer, conversations):
    """Run the notebook's template cell: it builds the template and asserts identical rendering on `conversations`."""
    from trl.chat_template_utils import has_generation_markers

    tokenizer.chat_template = (SMOLLM2 / "chat_template.jinja").read_text(encoding="utf-8")
    namespace = {
        "tokenizer": tokenizer,
        "has_generation_markers": has_generation_markers,
        "raw_datasets": {"train": [{"messages": c} for c in conversations]},
    }
    run_cells(NOTEBOOK, ["training_template = original_template.replace"], namespace)
    return namespace["training_template"]


texts = st.text(alphabet=string.ascii_letters + string.digits + " .,:;!?'\"{}[]-\n()é", min_size=1, max_size=60)
conversations = st.lists(st.tuples(texts, texts), min_size=2, max_size=4).map(
    lambda pairs: [[{"role": "user", "content": u}, {"role": "assistant", "content": a}] for u, a in pairs]
)


@needs_smollm2
@given(conversations)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_training_template_renders_like_the_original(tokenizer, convs):
    template = training_template_for(tokenizer, convs)
    assert "{% generation %}" in template


def sft_labels(tokenizer, template, convs):
    """Labels as TRL 1.16's SFTTrainer builds them (assistant_only_loss=True), with a tiny random model."""
    import torch
    from datasets import Dataset
    from transformers import LlamaForCausalLM
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(0)
    tiny = LlamaForCausalLM(
        tiny_llama_config(
            tokenizer,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
    )
    tokenizer.chat_template = template
    args = SFTConfig(
        output_dir=tempfile.mkdtemp(prefix="sft-test-"),
        assistant_only_loss=True,
        max_length=512,
        bf16=False,
        activation_checkpointing=False,  # TRL defaults gradient_checkpointing (its old name) to True
        use_cpu=True,
        report_to="none",
        per_device_train_batch_size=len(convs),
    )
    trainer = SFTTrainer(
        model=tiny, args=args, train_dataset=Dataset.from_dict({"messages": convs}), processing_class=tokenizer
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(convs))])
    return batch["labels"].tolist()


def expected_labels_fn(tokenizer):
    return run_cells(NOTEBOOK, ["def expected_labels"], {"tokenizer": tokenizer})["expected_labels"]


FIXED = [
    [
        {"role": "user", "content": "Extract.\n\nText: Leeds is a city."},
        {"role": "assistant", "content": '{"name": "Leeds", "year": null}'},
    ],
    [
        {"role": "user", "content": 'JSON only, please: "year".\n\nText: Rome was founded in 753.'},
        {"role": "assistant", "content": '{"year": null}'},
    ],
]


@needs_smollm2
@pytest.mark.parametrize("variant", ["notebook", "end token outside the markers", "no markers"])
def test_labels_are_minus_100_exactly_outside_the_answers(tokenizer, variant):
    template = training_template_for(tokenizer, FIXED)
    expected_labels = expected_labels_fn(tokenizer)
    if variant == "end token outside the markers":
        template = template.replace(
            "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}",
            "{% generation %}{{ message['content'] }}{% endgeneration %}{{ '<|im_end|>' }}",
        )
    elif variant == "no markers":
        template = template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    try:
        labels = sft_labels(tokenizer, template, FIXED)
    except (RuntimeError, ValueError) as error:  # TRL refuses a template without generation markers
        assert variant == "no markers" and "generation" in str(error)
        return
    matches = [
        row == expected_labels(messages) + [-100] * (len(row) - len(expected_labels(messages)))
        for row, messages in zip(labels, FIXED)
    ]
    assert all(matches) == (variant == "notebook")


@needs_smollm2
@given(
    st.lists(
        st.tuples(
            texts,
            st.dictionaries(
                st.sampled_from(["name", "year", "topic"]),
                st.one_of(st.none(), st.integers(1000, 2029), texts),
                min_size=1,
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_labels_on_random_conversations(tokenizer, pairs):
    convs = [
        [
            {"role": "user", "content": f"Extract.\n\nText: {u}"},
            {"role": "assistant", "content": json.dumps(a, ensure_ascii=False)},
        ]
        for u, a in pairs
    ]
    template = training_template_for(tokenizer, convs)
    expected_labels = expected_labels_fn(tokenizer)
    for row, messages in zip(sft_labels(tokenizer, template, convs), convs):
        expected = expected_labels(messages)
        assert row == expected + [-100] * (len(row) - len(expected))


# ---- LoRA by hand ---------------------------------------------------------------------------------------------
def tiny_peft_model(r, alpha, seed=0):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    base = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=64,
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    )
    model = get_peft_model(
        base,
        LoraConfig(
            r=r,
            lora_alpha=alpha,
            lora_dropout=0.0,
            task_type="CAUSAL_LM",
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        ),
    )
    with torch.no_grad():  # B starts at zero: give it values, as training would
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    return model


def lora_by_hand(x, W, A, B, r, alpha):
    return x @ W.T + (alpha / r) * (x @ A.T) @ B.T


@given(st.integers(1, 8), st.integers(1, 32), st.integers(0, 1000))
@settings(max_examples=15, deadline=None)
def test_lora_update_by_hand_equals_peft_layer_and_merge(r, alpha, seed):
    import copy

    import torch

    model = tiny_peft_model(r, alpha, seed)
    x = torch.randn(2, 5, 32, generator=torch.Generator().manual_seed(seed))
    merged = copy.deepcopy(model).merge_and_unload()
    checked = 0
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and "default" in module.lora_A:
            W, A, B = module.base_layer.weight, module.lora_A["default"].weight, module.lora_B["default"].weight
            inputs = x if W.shape[1] == 32 else torch.randn(2, 5, W.shape[1])
            with torch.no_grad():
                assert torch.allclose(lora_by_hand(inputs, W, A, B, r, alpha), module(inputs), atol=1e-5)
                merged_weight = merged.get_submodule(name.removeprefix("base_model.model.")).weight
                assert torch.allclose(merged_weight, W + (alpha / r) * B @ A, atol=1e-6)
            checked += 1
    assert checked == 2 * 7


def test_lora_without_the_alpha_over_r_scale_is_caught():
    import torch

    model = tiny_peft_model(r=4, alpha=16)
    module = model.base_model.model.model.layers[0].self_attn.q_proj
    W, A, B = module.base_layer.weight, module.lora_A["default"].weight, module.lora_B["default"].weight
    x = torch.randn(3, 32)
    with torch.no_grad():
        assert not torch.allclose(x @ W.T + (x @ A.T) @ B.T, module(x), atol=1e-5)  # forgot alpha / r
        assert torch.allclose(lora_by_hand(x, W, A, B, 4, 16), module(x), atol=1e-5)


# ---- the notebook's own generation and LoRA cells -------------------------------------------------------------------
class EchoModel:
    """Stands in for a causal LM in `generate_replies`: replies "answer K" to the prompt that ends with "item K",
    whatever the order of the batch, or fills the whole budget without an end-of-sequence token for K in `cut`."""

    def __init__(self, tokenizer, cut=()):
        self.tokenizer, self.cut = tokenizer, set(cut)

    def eval(self):
        return self

    def generate(self, input_ids, attention_mask, max_new_tokens, pad_token_id, **kwargs):
        import re

        import torch

        eos = self.tokenizer.eos_token_id
        rows = []
        for ids in input_ids:
            k = int(re.findall(r"item (\d+)", self.tokenizer.decode(ids, skip_special_tokens=True))[-1])
            if k in self.cut:
                new = self.tokenizer(" word" * max_new_tokens, add_special_tokens=False).input_ids[:max_new_tokens]
            else:
                new = self.tokenizer(f"answer {k}", add_special_tokens=False).input_ids + [eos]
            rows.append(ids.tolist() + new + [pad_token_id] * (max_new_tokens - len(new)))
        return torch.tensor(rows)


def generation_namespace(tokenizer):
    import torch
    from tqdm.auto import tqdm

    from utils import scaled

    tokenizer.chat_template = (SMOLLM2 / "chat_template.jinja").read_text(encoding="utf-8")
    return {"tokenizer": tokenizer, "torch": torch, "tqdm": tqdm, "scaled": scaled}


def shuffled_length_conversations(n, seed=0):
    """Conversation K asks about "item K", with a random length, so that sorting by length reorders them."""
    rng = random.Random(seed)
    return [[{"role": "user", "content": "word " * rng.randint(0, 40) + f"item {k}"}] for k in range(n)]


@needs_smollm2
@pytest.mark.parametrize("batch_size", [1, 3, 7, 50])
def test_generate_replies_restores_the_order_of_the_conversations(tokenizer, batch_size):
    namespace = run_cells(NOTEBOOK, ["def generate_replies(model, conversations"], generation_namespace(tokenizer))
    conversations = shuffled_length_conversations(23)
    lengths = [len(tokenizer.apply_chat_template(c, tokenize=False)) for c in conversations]
    assert lengths != sorted(lengths)  # the sort by length really reorders them
    replies, truncated = namespace["generate_replies"](EchoModel(tokenizer, cut={4, 17}), conversations, batch_size)
    assert replies[:4] == [f"answer {k}" for k in range(4)] and replies[5:17] == [f"answer {k}" for k in range(5, 17)]
    assert truncated == [k in {4, 17} for k in range(23)]


@needs_smollm2
def test_a_generate_replies_that_mixes_up_a_batch_is_caught(tokenizer):
    from tests.notebook_code import notebook_cell

    source = notebook_cell(NOTEBOOK, "def generate_replies(model, conversations")
    broken = source.replace("zip(indices, new,", "zip(sorted(indices, reverse=True), new,")
    assert broken != source
    namespace = generation_namespace(tokenizer)
    exec(compile(broken, "broken generate_replies", "exec"), namespace)
    replies, _ = namespace["generate_replies"](EchoModel(tokenizer), shuffled_length_conversations(23), 7)
    assert replies != [f"answer {k}" for k in range(23)]


@pytest.fixture(scope="module")
def lora_cells():
    """The notebook's LoRA cells (config, one layer by hand, the SVD of the update, the merge) on the real SmolLM2,
    with the adapter's B matrices moved away from zero as training would."""
    import copy

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from utils import seed_everything

    model = AutoModelForCausalLM.from_pretrained(str(SMOLLM2), dtype=torch.float32)
    namespace = {
        "model": model,
        "LoraConfig": LoraConfig,
        "get_peft_model": get_peft_model,
        "torch": torch,
        "seed_everything": seed_everything,
        "copy": copy,
        "plt": plt,
    }
    run_cells(NOTEBOOK, ["lora_config = LoraConfig(r=16"], namespace)
    with torch.no_grad():
        for name, param in namespace["peft_model"].named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02, generator=torch.Generator().manual_seed(0))
    markers = [
        "layer = peft_model.base_model.model.model.layers[0]",
        "by_hand = x @ W.T",
        "singular_values = torch.linalg.svdvals",
        "merged_model = copy.deepcopy(peft_model)",
    ]
    return run_cells(NOTEBOOK, markers, namespace)


@needs_smollm2
def test_the_notebooks_lora_cells_hold_on_the_real_model(lora_cells):

    assert lora_cells["rank"] == 16 and len(lora_cells["differences"]) == 210
    assert (lora_cells["by_hand"] - lora_cells["by_peft"]).abs().max().item() < 1e-5


@needs_smollm2
@pytest.mark.parametrize(
    "marker,correct,broken",
    [
        ("by_hand = x @ W.T", "(lora_config.lora_alpha / lora_config.r) * ", ""),  # the alpha / r scale forgotten
        (
            "singular_values = torch.linalg.svdvals",
            'delta = layer.scaling["default"] * B @ A',
            'delta = layer.base_layer.weight + layer.scaling["default"] * B @ A',
        ),  # W + dW is full rank
        (
            "merged_model = copy.deepcopy(peft_model)",
            'module.scaling["default"] * module.lora_B',
            "module.lora_B",
        ),  # merge checked against an update without its scale
    ],
)
def test_broken_lora_cells_are_caught(lora_cells, marker, correct, broken):
    from tests.notebook_code import notebook_cell

    source = notebook_cell(NOTEBOOK, marker)
    assert correct in source
    with pytest.raises(AssertionError):
        exec(compile(source.replace(correct, broken), f"broken {marker}", "exec"), dict(lora_cells))


# ---- the data -----------------------------------------------------------------------------------------------------
def test_counts_split_by_article_and_schema():
    train, test = rows("train"), rows("test")
    assert len(train) >= 400 and len(test) >= 80
    assert not {r["title"] for r in train} & {r["title"] for r in test}
    for row in train + test:
        assert set(row) == {"id", "title", "context_chars", "fields", "instruction", "answer"}
        assert set(row["fields"]) <= {"name", "year", "topic"} and len(row["fields"]) in (2, 3)
        assert list(json.loads(row["answer"])) == row["fields"]
    assert len({r["id"] for r in train + test}) == len(train) + len(test)


def test_instructions_are_varied():
    instructions = [r["instruction"] for r in rows("train") + rows("test")]
    assert len(set(instructions)) / len(instructions) > 0.9
    openers = {i.split("\n")[0].split(":")[0][:25] for i in instructions}
    assert len(openers) >= 12


def test_answers_are_short():
    assert max(len(r["answer"]) for r in rows("train") + rows("test")) < 120


@needs_wiki
def test_no_wikipedia_text_is_committed():
    articles = make_data().load_articles(WIKI_EN)
    committed = "".join((DATA / f"{split}.jsonl").read_text(encoding="utf-8") for split in ("train", "test"))
    for row in rows("train") + rows("test"):
        opening = articles[row["title"]]["extract"][: row["context_chars"]]
        assert json.dumps(opening[:60], ensure_ascii=False)[1:-1] not in committed, row["id"]


@needs_wiki
def test_every_answer_is_verified_against_the_kit_text():
    module = make_data()
    articles = module.load_articles(WIKI_EN)
    checked = 0
    for split in ("train", "test"):
        for row in rows(split):
            assert module.check_example(row, articles[row["title"]]) == [], row["id"]
            checked += 1
    assert checked == len(rows("train")) + len(rows("test"))


@needs_wiki
@pytest.mark.parametrize("corruption", ["year", "name", "topic", "keys"])
def test_the_checker_catches_a_wrong_answer(corruption):
    module = make_data()
    articles = module.load_articles(WIKI_EN)
    row = next(r for r in rows("train") if r["fields"] == ["name", "year", "topic"])
    answer = json.loads(row["answer"])
    if corruption == "year":
        answer["year"] = 1999 if answer["year"] != 1999 else 2000
    elif corruption == "name":
        answer["name"] = answer["name"] + "s"
    elif corruption == "topic":
        answer["topic"] = "arts" if answer["topic"] != "arts" else "history"
    else:
        answer = {"name": answer["name"], "topic": answer["topic"], "year": answer["year"]}
    broken = dict(row, answer=json.dumps(answer))
    assert module.check_example(broken, articles[row["title"]])


@needs_wiki
def test_the_generator_reproduces_the_committed_files():
    module = make_data()
    splits = module.build(module.load_articles(WIKI_EN))
    for split in ("train", "test"):
        rebuilt = [
            {k: r[k] for k in ("id", "title", "context_chars", "fields", "instruction", "answer")}
            for r in splits[split]
        ]
        assert rebuilt == rows(split)


def test_first_year_rule():
    module = make_data()
    assert module.first_year("Born in 1809, died 1865.") == 1809
    assert module.first_year("A population of 1,500 in 2020.") == 2020
    assert module.first_year("pi is 3.1415 and e is 2.718") is None
    assert module.first_year("No year here, only 12345.") is None
    rng = random.Random(0)
    for _ in range(50):
        year = rng.randint(1000, 2029)
        assert module.first_year(f"Text {year}.") == year
