"""Dataset schemas: the label names and columns of every dataset kind, in the hub counterparts' order.

The bottom of the dataset layer: the catalog loads with these features, the stand-in registry takes its labels here.
"""

from __future__ import annotations

EMOTION_LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]  # dair-ai/emotion order
NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]  # conll2003 order
KINDS = ("binary-sentiment", "wiki", "emotion", "toxicity", "ner", "qa", "humaneval")


def features(kind: str):
    """The ``datasets.Features`` of a dataset kind (one of :data:`KINDS`)."""
    from datasets import ClassLabel, Features, List, Value

    if kind == "binary-sentiment":
        return Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    if kind == "wiki":
        return Features({name: Value("string") for name in ("title", "extract", "description", "topic")})
    if kind == "emotion":
        return Features({"text": Value("string"), "label": ClassLabel(names=EMOTION_LABELS)})
    if kind == "toxicity":
        return Features(
            {"text": Value("string"), "toxic": ClassLabel(names=["not_toxic", "toxic"]), "kind": Value("string")}
        )
    if kind == "ner":
        return Features(
            {"id": Value("string"), "tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=NER_LABELS))}
        )
    if kind == "qa":
        return Features(
            {
                "id": Value("string"),
                "title": Value("string"),
                "context": Value("string"),
                "question": Value("string"),
                "answers": {"text": List(Value("string")), "answer_start": List(Value("int32"))},
            }
        )
    if kind == "humaneval":  # openai/openai_humaneval's columns, in its order
        return Features(
            {name: Value("string") for name in ("task_id", "prompt", "canonical_solution", "test", "entry_point")}
        )
    raise KeyError(kind)
