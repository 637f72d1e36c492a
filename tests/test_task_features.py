"""Task features (utils.task_features): word labels to word pieces, and span decoding, on hand-made cases."""

import numpy as np

from utils.task_features import align_word_labels, qa_best_answers


def test_only_the_first_piece_of_each_word_keeps_its_label():
    # [CLS] new ##castle is [SEP]: word 0 is split in two pieces
    word_ids = [None, 0, 0, 1, None]
    assert align_word_labels(word_ids, [5, 0]) == [-100, 5, -100, 0, -100]


def test_special_tokens_and_repeated_words_are_ignored_by_the_loss():
    assert align_word_labels([None, None], []) == [-100, -100]
    assert align_word_labels([None, 0, 1, 1, 1, 2, None], [1, 2, 3]) == [-100, 1, 2, -100, -100, 3, -100]


def test_the_best_valid_span_wins_across_windows():
    context = "Paris is the capital of France."
    examples = [{"id": "q1", "context": context}]
    # two windows of 4 tokens; offsets None outside the context
    features = {
        "example_id": ["q1", "q1"],
        "offset_mapping": [
            [None, (0, 5), (6, 8), (9, 12)],
            [None, (13, 20), (21, 23), (24, 30)],
        ],
    }
    start = np.array([[9.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.0, 4.0]])  # position 0 ([CLS]) is never an answer
    end = np.array([[9.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 4.0]])
    assert qa_best_answers(examples, features, start, end) == {"q1": "France"}


def test_an_end_before_the_start_or_a_too_long_span_is_skipped():
    context = "one two three four"
    examples = [{"id": "q", "context": context}]
    features = {"example_id": ["q"], "offset_mapping": [[(0, 3), (4, 7), (8, 13), (14, 18)]]}
    start = np.array([[0.0, 0.0, 0.0, 5.0]])
    end = np.array([[0.0, 6.0, 0.0, 1.0]])  # the best end lies before the best start
    assert qa_best_answers(examples, features, start, end) == {"q": "four"}
    start, end = np.array([[5.0, 0.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 0.0, 5.0]])  # the best end is 4 tokens on
    assert qa_best_answers(examples, features, start, end, max_answer_tokens=2) == {"q": "one"}
