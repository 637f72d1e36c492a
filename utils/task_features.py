"""Task features: from labelled examples to what a model trains on, and back from its outputs to answers.

Lesson helpers for the NER and question-answering notebooks (15, 16), where each idea is first written out and
proven equal to these: word labels aligned to word pieces, question/context windows with a stride whose answer
tokens are marked, and the best answer span decoded from start/end logits. The stand-in recipes reuse them.
"""

from __future__ import annotations

import collections

import numpy as np


def align_word_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """Word-level labels to word-piece labels: the first piece of a word gets its label; continuation
    pieces and special tokens get -100, which the loss ignores."""
    aligned, previous = [], None
    for word_id in word_ids:
        aligned.append(-100 if word_id is None or word_id == previous else word_labels[word_id])
        previous = word_id
    return aligned


def qa_train_features(examples, tokenizer, max_length: int, stride: int) -> dict:
    """Tokenize question + context into overlapping windows and mark each window's answer tokens.

    A window that does not contain the whole answer points at [CLS] (position 0), as in SQuAD training.
    """
    encoded = tokenizer(
        examples["question"],
        examples["context"],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    starts, ends = [], []
    for i, offsets in enumerate(encoded["offset_mapping"]):
        example = encoded["overflow_to_sample_mapping"][i]
        answer = examples["answers"][example]
        start_char = answer["answer_start"][0]
        end_char = start_char + len(answer["text"][0])
        sequence_ids = encoded.sequence_ids(i)
        context_start = sequence_ids.index(1)
        context_end = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
        if offsets[context_start][0] > start_char or offsets[context_end][1] < end_char:
            starts.append(0)
            ends.append(0)
            continue
        token = context_start
        while token <= context_end and offsets[token][0] <= start_char:
            token += 1
        starts.append(token - 1)
        token = context_end
        while token >= context_start and offsets[token][1] >= end_char:
            token -= 1
        ends.append(token + 1)
    encoded["start_positions"] = starts
    encoded["end_positions"] = ends
    encoded.pop("offset_mapping")
    encoded.pop("overflow_to_sample_mapping")
    return encoded


def qa_eval_features(examples, tokenizer, max_length: int, stride: int) -> dict:
    """Windows for evaluation, keeping the example id and the offsets of context tokens only."""
    encoded = tokenizer(
        examples["question"],
        examples["context"],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    example_ids = []
    for i in range(len(encoded["input_ids"])):
        sequence_ids = encoded.sequence_ids(i)
        example_ids.append(examples["id"][encoded["overflow_to_sample_mapping"][i]])
        encoded["offset_mapping"][i] = [
            o if sequence_ids[k] == 1 else None for k, o in enumerate(encoded["offset_mapping"][i])
        ]
    encoded["example_id"] = example_ids
    encoded.pop("overflow_to_sample_mapping")
    return encoded


def qa_best_answers(
    examples, features, start_logits, end_logits, n_best: int = 20, max_answer_tokens: int = 30
) -> dict[str, str]:
    """For each example, the highest-scoring valid span (start <= end, inside the context, not too long)
    over all of its windows, mapped back to characters of the context."""
    windows = collections.defaultdict(list)
    for index, example_id in enumerate(features["example_id"]):
        windows[example_id].append(index)
    answers = {}
    for example in examples:
        best_text, best_score = "", -np.inf
        for index in windows[example["id"]]:
            offsets = features["offset_mapping"][index]
            starts = np.argsort(start_logits[index])[-1 : -n_best - 1 : -1]
            ends = np.argsort(end_logits[index])[-1 : -n_best - 1 : -1]
            for start in starts:
                for end in ends:
                    if (
                        offsets[start] is None
                        or offsets[end] is None
                        or end < start
                        or end - start + 1 > max_answer_tokens
                    ):
                        continue
                    score = start_logits[index][start] + end_logits[index][end]
                    if score > best_score:
                        best_score = score
                        best_text = example["context"][offsets[start][0] : offsets[end][1]]
        answers[example["id"]] = best_text
    return answers
