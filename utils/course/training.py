"""How each kind of stand-in is fine-tuned from all-MiniLM-L6-v2 (used by :mod:`utils.course.build`).

One function per head: sequence classification, token classification, extractive question answering.
Each takes the spec, the settings and an output folder, trains with ``Trainer``, saves the model and
tokenizer there, and returns held-out metrics on the validation and test splits.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from utils import metrics
from utils.course import catalog
from utils.course.files import asset_path
from utils.course.registry import BASE_MODEL, StandinSpec, TrainSettings
from utils.task_features import align_word_labels, qa_best_answers, qa_eval_features, qa_train_features


def _limit(split, limit: int | None, seed: int):
    return split if limit is None or limit >= len(split) else split.shuffle(seed=seed).select(range(limit))


def _load_splits(spec: StandinSpec, settings: TrainSettings):
    from datasets import load_dataset

    raw_datasets = load_dataset(**catalog.local_dataset_args(spec.dataset))
    return {
        "train": _limit(raw_datasets["train"], settings.train_limit, settings.seed),
        "validation": _limit(raw_datasets["validation"], settings.eval_limit, settings.seed),
        "test": _limit(raw_datasets["test"], settings.eval_limit, settings.seed),
    }


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 matrix products in hardware (Intel AMX or AVX512-BF16; recent Xeons, AMD
    Zen 4). Elsewhere bf16 autocast is emulated and slower than fp32."""
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch.cpu has no public probe yet
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def bf16_autocast(settings: TrainSettings) -> bool:
    """Whether a build with these settings trains under bfloat16 autocast on this machine."""
    forced_off = os.environ.get("LLM_RETREAT_BF16", "1").strip().lower() in {"0", "false", "no"}
    return settings.bf16 and not forced_off and cpu_has_native_bf16()


def _training_args(settings: TrainSettings, scratch: str):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=scratch,
        num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=64,
        warmup_steps=settings.warmup_steps,
        weight_decay=settings.weight_decay,
        seed=settings.seed,
        train_sampling_strategy=settings.sampling,
        bf16=bf16_autocast(settings),  # on the CPU: torch.autocast("cpu", dtype=torch.bfloat16) around each step
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=False,
    )  # a bar with steps and time left (builds take minutes)


def _predict_in_order(trainer, dataset):
    """``trainer.predict`` with row i of the result for row i of ``dataset``.

    With ``train_sampling_strategy="group_by_length"`` transformers 5 also groups evaluation batches by length, so
    predictions come back shuffled (notebook 10 shows it); the QA decoder matches windows to questions by position.
    """
    trainer.args.train_sampling_strategy = "random"  # training is over; evaluation then reads the rows in order
    return trainer.predict(dataset)


def _label_maps(spec: StandinSpec) -> dict:
    return {
        "num_labels": len(spec.id2label),
        "id2label": spec.id2label,
        "label2id": {label: index for index, label in spec.id2label.items()},
    }


def train_text_classifier(spec: StandinSpec, settings: TrainSettings, out_dir: Path) -> dict:
    """Sequence classification on a text column and a ClassLabel column (``spec.label_column``)."""
    import numpy as np
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        set_seed,
    )

    set_seed(settings.seed)
    base = asset_path(BASE_MODEL)
    splits = _load_splits(spec, settings)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, **_label_maps(spec))

    def tokenize(batch):
        encoded = tokenizer(batch["text"], truncation=True, max_length=settings.max_length)
        encoded["labels"] = batch[spec.label_column]
        return encoded

    tokenized = {
        name: split.map(tokenize, batched=True, remove_columns=split.column_names) for name, split in splits.items()
    }
    labels = sorted(spec.id2label)
    results: dict = {"split_sizes": {name: len(split) for name, split in splits.items()}}
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(
            model=model,
            args=_training_args(settings, scratch),
            train_dataset=tokenized["train"],
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
        )
        trainer.train()
        for name in ("validation", "test"):
            output = _predict_in_order(trainer, tokenized[name])
            predicted = np.argmax(output.predictions, axis=-1).tolist()
            references = output.label_ids.tolist()
            scores = {
                "accuracy": metrics.accuracy(predicted, references),
                "macro_f1": metrics.macro_f1(predicted, references, labels),
            }
            if len(labels) == 2:
                scores["f1_positive"] = metrics.precision_recall_f1(predicted, references, positive=1)["f1"]
            results[name] = {key: round(value, 4) for key, value in scores.items()}
    trainer.save_model(str(out_dir))
    tokenizer.save_pretrained(out_dir)
    return results


def train_token_classifier(spec: StandinSpec, settings: TrainSettings, out_dir: Path) -> dict:
    """Token classification (NER) on ``tokens``/``ner_tags``; entity-level metrics with seqeval."""
    import numpy as np
    from seqeval.metrics import f1_score, precision_score, recall_score
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        set_seed,
    )

    set_seed(settings.seed)
    base = asset_path(BASE_MODEL)
    splits = _load_splits(spec, settings)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForTokenClassification.from_pretrained(base, **_label_maps(spec))

    def tokenize(batch):
        encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=settings.max_length)
        encoded["labels"] = [align_word_labels(encoded.word_ids(i), tags) for i, tags in enumerate(batch["ner_tags"])]
        return encoded

    tokenized = {
        name: split.map(tokenize, batched=True, remove_columns=split.column_names) for name, split in splits.items()
    }
    results: dict = {"split_sizes": {name: len(split) for name, split in splits.items()}}
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(
            model=model,
            args=_training_args(settings, scratch),
            train_dataset=tokenized["train"],
            data_collator=DataCollatorForTokenClassification(tokenizer),
            processing_class=tokenizer,
        )
        trainer.train()
        for name in ("validation", "test"):
            output = _predict_in_order(trainer, tokenized[name])
            predicted_ids = np.argmax(output.predictions, axis=-1)
            predicted, references = [], []
            for row_predictions, row_labels in zip(predicted_ids, output.label_ids):
                keep = row_labels != -100
                predicted.append([spec.id2label[int(i)] for i in row_predictions[keep]])
                references.append([spec.id2label[int(i)] for i in row_labels[keep]])
            results[name] = {
                "f1": round(f1_score(references, predicted), 4),
                "precision": round(precision_score(references, predicted), 4),
                "recall": round(recall_score(references, predicted), 4),
            }
    trainer.save_model(str(out_dir))
    tokenizer.save_pretrained(out_dir)
    return results


def train_question_answering(spec: StandinSpec, settings: TrainSettings, out_dir: Path) -> dict:
    """Extractive QA on SQuAD-style data: windows with a stride, start/end heads, EM and token F1."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, Trainer, set_seed

    set_seed(settings.seed)
    base = asset_path(BASE_MODEL)
    splits = _load_splits(spec, settings)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForQuestionAnswering.from_pretrained(base)
    stride = settings.max_length // 4
    train_features = splits["train"].map(
        lambda batch: qa_train_features(batch, tokenizer, settings.max_length, stride),
        batched=True,
        remove_columns=splits["train"].column_names,
    )
    results: dict = {"split_sizes": {name: len(split) for name, split in splits.items()}}
    with tempfile.TemporaryDirectory() as scratch:
        # training windows are padded per batch (dynamic padding); evaluation windows are already
        # padded to max_length (qa_eval_features), so the same collator leaves them as they are
        trainer = Trainer(
            model=model,
            args=_training_args(settings, scratch),
            train_dataset=train_features,
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
        )
        trainer.train()
        for name in ("validation", "test"):
            features = splits[name].map(
                lambda batch: qa_eval_features(batch, tokenizer, settings.max_length, stride),
                batched=True,
                remove_columns=splits[name].column_names,
            )
            output = _predict_in_order(trainer, features.remove_columns(["example_id", "offset_mapping"]))
            start_logits, end_logits = output.predictions[:2]
            predictions = qa_best_answers(splits[name], features, start_logits, end_logits)
            golds = {example["id"]: example["answers"]["text"] for example in splits[name]}
            exact = [metrics.exact_match(predictions[i], golds[i]) for i in golds]
            f1 = [metrics.token_f1(predictions[i], golds[i]) for i in golds]
            results[name] = {"exact_match": round(sum(exact) / len(exact), 4), "f1": round(sum(f1) / len(f1), 4)}
    trainer.save_model(str(out_dir))
    tokenizer.save_pretrained(out_dir)
    return results


RECIPES: dict[str, Callable[[StandinSpec, TrainSettings, Path], dict]] = {
    "text_classifier": train_text_classifier,
    "token_classifier": train_token_classifier,
    "question_answering": train_question_answering,
}
