"""SQuAD-style exact match and token F1 for extractive question answering, written by this project.

Both compare a predicted answer string with the gold answers of its question after the same
normalisation (``utils.metrics.normalise_answer``):

1. lower-case;
2. drop punctuation (Python's ``string.punctuation``);
3. drop the articles ``a``, ``an``, ``the`` (whole words);
4. collapse whitespace (split on whitespace, join with one space).

*Exact match* is 1 when the normalised prediction equals a normalised gold answer. *Token F1* is the
harmonic mean of precision and recall of the bag of normalised words shared by prediction and gold
answer (1 if both are empty, 0 if only one is). A question scores the **maximum** over its gold
answers. The results are means over questions, as fractions between 0 and 1 (the official SQuAD
script prints them multiplied by 100).

Inputs: ``predictions``: one string per question (may be empty); ``references``: one list of gold
answer strings per question (at least one each).

Returns ``{"exact_match": float, "f1": float}``.
Raises ValueError when a question has no gold answer or there are no questions.
"""

import datasets
import evaluate

from utils.metrics import exact_match
from utils.metrics import token_f1

_CITATION = "Rajpurkar et al. (2016), SQuAD: 100,000+ Questions for Machine Comprehension of Text."


class SquadQa(evaluate.Metric):
    """SQuAD-style exact match and token F1 (max over gold answers, mean over questions)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description="predictions: list of answer strings; references: list of lists of gold answers",
            features=datasets.Features({
                "predictions": datasets.Value("string"),
                "references": datasets.Sequence(datasets.Value("string")),
            }),
        )

    def _compute(self, predictions, references):
        if not references:
            raise ValueError("no questions to score: predictions and references are empty")
        exact, f1 = [], []
        for number, (prediction, golds) in enumerate(zip(predictions, references)):
            if not golds:
                raise ValueError(f"question {number} has no gold answer; SQuAD-style scoring needs at least one "
                                 "(this metric does not handle SQuAD 2.0 unanswerable questions)")
            exact.append(exact_match(prediction or "", golds))
            f1.append(token_f1(prediction or "", golds))
        return {"exact_match": sum(exact) / len(exact), "f1": sum(f1) / len(f1)}
