"""Present mode (utils.present): a saved run, loaded, leaves the objects as training left them."""

import random
import re

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    get_scheduler,
)
from transformers.utils.notebook import NotebookProgressCallback

from utils import banner
from utils.modes import PRESENT_BANNER
from utils.present import epoch_table, files_or_load, result_or_load, run_dir, run_or_load, train_or_load


@pytest.fixture
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_RETREAT_HOME", str(tmp_path / "assets"))
    monkeypatch.setenv("LLM_RETREAT_SMOKE", "1")
    monkeypatch.delenv("LLM_RETREAT_PRESENT", raising=False)
    return tmp_path


def tiny_model(seed=0):
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


def tiny_data():
    generator = np.random.default_rng(0)
    ids = generator.integers(1, 50, size=(24, 6)).tolist()
    return Dataset.from_dict({"input_ids": ids, "labels": [row[0] % 2 for row in ids]})


def tiny_trainer(tmp_path, learning_rate=1e-2, model=None):
    arguments = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=2,
        per_device_train_batch_size=8,
        learning_rate=learning_rate,
        logging_steps=1,
        eval_strategy="epoch",
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    return Trainer(model=model or tiny_model(), args=arguments, train_dataset=tiny_data(), eval_dataset=tiny_data())


def weights(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


class StepCounter(TrainerCallback):
    def __init__(self):
        self.steps, self.unstorable = [], object()

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def test_a_loaded_trainer_run_equals_the_trained_one(home, monkeypatch, capsys):
    trained = tiny_trainer(home)
    counter = StepCounter()
    trained.add_callback(counter)
    output = train_or_load(trained, "99/tiny", keep=[counter])
    after_training = (torch.rand(3), float(np.random.rand()), random.random())
    assert (run_dir("99/tiny").parent.name, run_dir("99/tiny").name) == ("99-smoke", "tiny")
    assert "present mode" not in capsys.readouterr().out

    monkeypatch.setenv("LLM_RETREAT_PRESENT", "1")
    presented = tiny_trainer(home)
    before = weights(presented.model)
    counter2 = StepCounter()
    presented.add_callback(counter2)
    loaded = train_or_load(presented, "99/tiny", keep=[counter2])
    assert counter2.steps == counter.steps == [1, 2, 3, 4, 5, 6]
    assert "present mode: loaded run '99/tiny'" in capsys.readouterr().out
    assert loaded.global_step == output.global_step and loaded.training_loss == pytest.approx(output.training_loss)
    assert presented.state.log_history == trained.state.log_history
    assert [list(entry) for entry in presented.state.log_history] == [list(e) for e in trained.state.log_history]
    assert any("eval_loss" in entry for entry in presented.state.log_history)
    for name, value in weights(presented.model).items():
        assert torch.equal(value, dict(trained.model.named_parameters())[name].detach()), name
    assert any(not torch.equal(before[name], value) for name, value in weights(presented.model).items())
    # the random generators continue from where training left them
    assert torch.equal(torch.rand(3), after_training[0])
    assert (float(np.random.rand()), random.random()) == after_training[1:]
    assert PRESENT_BANNER in banner()


def test_present_mode_without_a_saved_run_names_the_fix(home, monkeypatch):
    monkeypatch.setenv("LLM_RETREAT_PRESENT", "1")
    with pytest.raises(FileNotFoundError, match=r"no saved run '99/missing'.*make run NB=99"):
        train_or_load(tiny_trainer(home), "99/missing")


def test_present_mode_refuses_a_run_made_with_other_settings(home, monkeypatch):
    train_or_load(tiny_trainer(home), "99/tiny")
    monkeypatch.setenv("LLM_RETREAT_PRESENT", "1")
    with pytest.raises(ValueError, match=r"arguments\.learning_rate: 0\.01 saved, 0\.02 now"):
        train_or_load(tiny_trainer(home, learning_rate=2e-2), "99/tiny")
    frozen = tiny_model()
    for parameter in frozen.bert.parameters():
        parameter.requires_grad = False
    with pytest.raises(ValueError, match="trainable"):
        train_or_load(tiny_trainer(home, model=frozen), "99/tiny")


def test_run_names_must_name_a_notebook_and_a_run(home):
    with pytest.raises(ValueError, match="13/emotion"):
        run_dir("emotion")


def loop_objects(seed=0):
    model = tiny_model(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = get_scheduler("linear", optimizer=optimizer, num_warmup_steps=0, num_training_steps=6)
    return model, optimizer, scheduler


def hand_loop(model, optimizer, scheduler):
    history = []
    for batch in Dataset.with_format(tiny_data(), "torch").iter(batch_size=4):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        history.append({"loss": loss.item(), "lr": np.float32(scheduler.get_last_lr()[0])})
    return history


def test_a_loaded_loop_run_restores_model_optimizer_and_scheduler(home, monkeypatch):
    model, optimizer, scheduler = loop_objects()
    history = run_or_load(
        "99/loop",
        lambda: hand_loop(model, optimizer, scheduler),
        model,
        settings={"steps": 6},
        optimizer=optimizer,
        scheduler=scheduler,
    )

    monkeypatch.setenv("LLM_RETREAT_PRESENT", "1")
    model2, optimizer2, scheduler2 = loop_objects()
    loaded = run_or_load(
        "99/loop",
        lambda: pytest.fail("present mode must not train"),
        model2,
        settings={"steps": 6},
        optimizer=optimizer2,
        scheduler=scheduler2,
    )
    assert loaded == [{**entry, "lr": float(entry["lr"])} for entry in history]
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), model2.parameters()))
    assert scheduler2.state_dict() == scheduler.state_dict()
    state, state2 = optimizer.state_dict()["state"], optimizer2.state_dict()["state"]
    assert state.keys() == state2.keys() and len(state) > 0
    for index in state:
        assert all(torch.equal(state[index][key], state2[index][key]) for key in state[index])
    with pytest.raises(ValueError, match=r"settings\.steps: 6 saved, 7 now"):
        run_or_load("99/loop", lambda: None, model2, settings={"steps": 7})


def test_present_mode_refuses_a_run_whose_training_data_changed_in_a_middle_row(home, monkeypatch):
    """Every row counts: the fingerprint once hashed only the first and last 32, and missed this edit."""
    rows = np.random.default_rng(1).integers(1, 50, size=(100, 6)).tolist()
    data = Dataset.from_dict({"input_ids": rows, "labels": [row[0] % 2 for row in rows]})
    trainer = tiny_trainer(home)
    trainer.train_dataset = data
    train_or_load(trainer, "99/rows")

    edited_rows = [list(row) for row in rows]
    edited_rows[50][3] = 1 + edited_rows[50][3] % 49  # another token in row 50 of 100
    edited = Dataset.from_dict({"input_ids": edited_rows, "labels": [row[0] % 2 for row in edited_rows]})
    monkeypatch.setenv("LLM_RETREAT_PRESENT", "1")
    presented = tiny_trainer(home)
    presented.train_dataset = edited
    with pytest.raises(ValueError) as refused:
        train_or_load(presented, "99/rows")
    message = str(refused.value)
    assert "present mode: the saved run '99/rows'" in message
    assert re.search(r"train_data\.sha256: '[0-9a-f]{16}' saved, '[0-9a-f]{16}' now", message), message
    assert "train_data.rows" not in message  # same number of rows: only the content differs
    assert "make run NB=99" in message
    # the same data in the same order loads
    presented.train_dataset = Dataset.from_dict({"input_ids": rows, "labels": [row[0] % 2 for row in rows]})
    train_or_load(presented, "99/rows")


class KeepsTable(NotebookProgressCallback):
    """Trainer's Jupyter progress callback, keeping its table (it drops its tracker when training ends)."""

    def on_train_end(self, args, state, control, **kwargs):
        self.table = [list(row) for row in self.training_tracker.inner_table]
        super().on_train_end(args, state, control, **kwargs)


@pytest.mark.parametrize("strategy", ["epoch", "steps", "no"])
def test_the_epoch_table_rebuilt_from_the_log_equals_the_live_one(home, monkeypatch, strategy):
    monkeypatch.setattr("transformers.utils.notebook.disp.display", lambda *a, **k: None)
    trainer = tiny_trainer(home)
    trainer.args.eval_strategy = strategy
    trainer.args.eval_steps = 2
    live = KeepsTable()
    trainer.add_callback(live)
    trainer.train()
    assert epoch_table(trainer.state.log_history, trainer.args.eval_strategy) == live.table
    header = live.table[0]
    assert header[:2] == (["Epoch"] if strategy == "epoch" else ["Step"]) + ["Training Loss"]
    assert ("Validation Loss" in header) == (strategy != "no")
    assert len(live.table) == {"epoch": 3, "steps": 4, "no": 7}[strategy]


def test_a_loaded_run_shows_its_epoch_table(home, monkeypatch, capsys):
    trained = tiny_trainer(home)
    train_or_load(trained, "99/tiny")
    evaluations = [entry for entry in trained.state.log_history if "eval_loss" in entry]
    capsys.readouterr()

    monkeypatch.setenv("LLM_RETREAT_PRESENT", "1")
    train_or_load(tiny_trainer(home), "99/tiny")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("present mode: loaded run '99/tiny'")
    assert re.fullmatch(r"\[6/6 \d\d:\d\d, Epoch 2/2\] \(the saved run\)", lines[1]), lines[1]
    assert lines[2].split() == ["Epoch", "Training", "Loss", "Validation", "Loss"]
    for line, entry in zip(lines[3:5], evaluations, strict=True):
        epoch, training, validation = line.split()
        assert int(epoch) == entry["epoch"] and validation == f"{entry['eval_loss']:.6f}"
    assert len(lines) == 5


def test_a_loaded_run_in_jupyter_shows_the_progress_bar_and_table(home, monkeypatch):
    monkeypatch.setattr("transformers.utils.notebook.disp.display", lambda *a, **k: None)  # the live bar
    trained = tiny_trainer(home)
    trained.add_callback(NotebookProgressCallback)
    train_or_load(trained, "99/tiny")
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kwargs: shown.append(obj))
    monkeypatch.setenv("LLM_RETREAT_PRESENT", "1")
    presented = tiny_trainer(home)
    presented.add_callback(NotebookProgressCallback)
    train_or_load(presented, "99/tiny")
    (html,) = [obj.data for obj in shown]
    assert "<progress value='6' max='6'" in html and "Epoch 2/2] (the saved run)" in html and "None" not in html
    assert "<th>Validation Loss</th>" in html
    for entry in (e for e in trained.state.log_history if "eval_loss" in e):
        assert f"<td>{entry['eval_loss']:.6f}</td>" in html


def test_files_written_by_other_processes_are_saved_and_copied_back(home, monkeypatch, tmp_path, capsys):
    """files_or_load (notebook 11's notebook_launcher run): present mode puts back the same files, returns the same
    result, never calls make, and refuses other settings or other training data."""
    first, second = tmp_path / "live", tmp_path / "presented"
    first.mkdir()

    def make():
        (first / "0-of-2.json").write_text('{"losses": [0.7, 0.6]}')
        (first / "0-of-2.safetensors").write_bytes(b"\x00\x01weights")
        return {"seconds": 1.5}

    data = tiny_data()
    assert files_or_load("99/shards", make, first, settings={"steps": 2}, data=data) == {"seconds": 1.5}

    monkeypatch.setenv("LLM_RETREAT_PRESENT", "1")
    loaded = files_or_load(
        "99/shards", lambda: pytest.fail("present mode must not train"), second, settings={"steps": 2}, data=data
    )
    assert loaded == {"seconds": 1.5}
    assert sorted(p.name for p in second.iterdir()) == ["0-of-2.json", "0-of-2.safetensors"]
    assert all((second / p.name).read_bytes() == p.read_bytes() for p in first.iterdir())
    assert "present mode: loaded run '99/shards'" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"settings\.steps: 2 saved, 3 now"):
        files_or_load("99/shards", make, second, settings={"steps": 3}, data=data)
    edited = data.map(lambda row, i: {"labels": 1 - row["labels"]} if i == 12 else {}, with_indices=True)
    with pytest.raises(ValueError, match="other settings"):
        files_or_load("99/shards", make, second, settings={"steps": 2}, data=edited)


def test_evaluation_results_are_saved_and_returned_in_present_mode(home, monkeypatch, capsys):
    """result_or_load (notebook 20's evaluation cells): present mode returns the saved replies without computing,
    says so, and refuses other settings or other prompts (one prompt edited in the middle)."""
    prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(30)]
    calls = []

    def compute():
        calls.append(1)
        return [[f"reply {i}" for i in range(30)], [i % 7 == 0 for i in range(30)]]

    settings = {"model": "smollm2", "max_new_tokens": 32}
    replies, cut = result_or_load("99/replies", compute, settings=settings, data=prompts)
    assert calls == [1] and replies[3] == "reply 3" and cut[7] is True

    monkeypatch.setenv("LLM_RETREAT_PRESENT", "1")
    loaded = result_or_load(
        "99/replies", lambda: pytest.fail("present mode must not compute"), settings=settings, data=prompts
    )
    assert loaded == compute() and len(calls) == 2  # the same result, computed only by the test itself
    out = capsys.readouterr().out
    assert "present mode: loaded run '99/replies'" in out and "computing skipped" in out
    with pytest.raises(ValueError, match=r"settings\.max_new_tokens: 32 saved, 64 now"):
        result_or_load("99/replies", compute, settings={**settings, "max_new_tokens": 64}, data=prompts)
    edited = [*prompts[:15], [{"role": "user", "content": "question 15, edited"}], *prompts[16:]]
    with pytest.raises(ValueError, match="other settings"):
        result_or_load("99/replies", compute, settings=settings, data=edited)
    with pytest.raises(FileNotFoundError, match="no saved run '99/other'"):
        result_or_load("99/other", compute, settings=settings, data=prompts)
