"""Entity-level precision, recall and F1 for IOB2 tag sequences (NER), written by this project.

An *entity* is a maximal run of tags of one type: it starts at ``B-X``, or at ``I-X`` when the tag before
is ``O`` or of another type (a lenient reading of a stray ``I-``, as seqeval's default mode and the
CoNLL ``conlleval`` script do); it continues over ``I-X`` and ends before anything else. A predicted
entity counts as correct only if its type, first token and last token all equal a gold entity's.
Sentences are scored separately (an entity never crosses a sentence boundary).

Inputs: ``predictions`` and ``references`` are lists of sentences, each a list of tag strings
(``"O"``, ``"B-PER"``, ``"I-PER"``, ...), of equal lengths sentence by sentence.

Returns a dict: one entry per entity type (in gold or predictions, sorted) with ``precision``,
``recall``, ``f1`` and ``number`` (gold entities of that type), then ``overall_precision``,
``overall_recall``, ``overall_f1`` (micro averages over all entities) and ``overall_accuracy``
(the share of tags predicted exactly). A ratio with a zero denominator is 0.0. These are the numbers
of the ``seqeval`` package in its default mode (``tests/test_task_metrics.py`` checks it).

Raises ValueError when a sentence's two tag lists differ in length or a tag is not ``O``, ``B-...``
or ``I-...``.
"""

import datasets
import evaluate

from utils.metrics import ratios_from_counts

_CITATION = "Ramshaw & Marcus (1995), Text chunking using transformation-based learning; Tjong Kim Sang & De Meulder (2003), CoNLL-2003 shared task."


def _check_tag(tag):
    if not isinstance(tag, str) or not (tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2)):
        raise ValueError(f"tag {tag!r} is not IOB2: expected 'O', 'B-<type>' or 'I-<type>' "
                         "(convert label ids to names first, e.g. with model.config.id2label)")


def extract_entities(tags):
    """The entities of one sentence as (type, first index, last index) tuples, in order."""
    entities, start, kind = [], None, None
    for index, tag in enumerate(list(tags) + ["O"]):
        if index < len(tags):
            _check_tag(tag)
        prefix, tag_kind = tag[:2], tag[2:]
        continues = prefix == "I-" and kind == tag_kind
        if kind is not None and not continues:
            entities.append((kind, start, index - 1))
            kind = None
        if prefix in ("B-", "I-") and not continues:
            start, kind = index, tag_kind
    return entities


def _ratios(correct, predicted, gold):
    """Precision, recall and F1 from entity counts (correct, predicted, gold)."""
    scores = ratios_from_counts(correct, predicted - correct, gold - correct)
    return scores["precision"], scores["recall"], scores["f1"]


class SeqevalEntities(evaluate.Metric):
    """Entity-level precision/recall/F1 (IOB2), per type and overall."""

    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description="predictions, references: lists of sentences, each a list of IOB2 tag strings",
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("string")),
                "references": datasets.Sequence(datasets.Value("string")),
            }),
        )

    def _compute(self, predictions, references):
        predicted, gold, correct = set(), set(), set()
        right_tags = all_tags = 0
        for number, (predicted_tags, gold_tags) in enumerate(zip(predictions, references)):
            if len(predicted_tags) != len(gold_tags):
                raise ValueError(f"sentence {number}: {len(predicted_tags)} predicted tags but "
                                 f"{len(gold_tags)} reference tags; they must align one to one")
            predicted_here = {(number, *entity) for entity in extract_entities(predicted_tags)}
            gold_here = {(number, *entity) for entity in extract_entities(gold_tags)}
            predicted |= predicted_here
            gold |= gold_here
            correct |= predicted_here & gold_here
            right_tags += sum(p == g for p, g in zip(predicted_tags, gold_tags))
            all_tags += len(gold_tags)
        results = {}
        for kind in sorted({entity[1] for entity in predicted | gold}):
            count = {name: sum(1 for entity in entities if entity[1] == kind)
                     for name, entities in (("correct", correct), ("predicted", predicted), ("gold", gold))}
            precision, recall, f1 = _ratios(count["correct"], count["predicted"], count["gold"])
            results[kind] = {"precision": precision, "recall": recall, "f1": f1, "number": count["gold"]}
        precision, recall, f1 = _ratios(len(correct), len(predicted), len(gold))
        results.update({"overall_precision": precision, "overall_recall": recall, "overall_f1": f1,
                        "overall_accuracy": right_tags / all_tags if all_tags else 0.0})
        return results
