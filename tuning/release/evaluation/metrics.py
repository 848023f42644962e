"""Scores for one answer and aggregates over many. Pure functions, no I/O.

Exact match and token F1 follow the SQuAD v1.1 evaluation script; labels, percentiles and the
Wilson interval are the textbook definitions (see docs/evaluation.md for the rules chosen here).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tuning.release.evaluation.results import ClassScore

_ARTICLES = re.compile(r"\b(a|an|the)\b")

# Label detection: short references with few distinct values (docs/evaluation.md).
MAX_LABEL_WORDS = 3
MAX_LABEL_CHARS = 32
MAX_DISTINCT_LABELS = 20
MAX_DISTINCT_SHARE = 0.5  # at most one distinct label per two items, so most labels repeat

Z_95 = 1.959963984540054  # two-sided 95 % normal quantile


# -- free text -------------------------------------------------------------------


def _strip_punctuation(text: str) -> str:
    # Every Unicode punctuation character (category P*), not only ASCII: Slack text has ’ “ ” — …
    return "".join(" " if unicodedata.category(char).startswith("P") else char for char in text)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, punctuation out, articles (a, an, the) out, whitespace collapsed.

    One departure: punctuation becomes a space rather than nothing, so "on-call" → "on call"
    (SQuAD would give "oncall"), which keeps both words matchable as tokens.
    """
    text = _strip_punctuation(text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (multiset overlap of normalised tokens).

    As in SQuAD, when either side has no tokens the score is 1 if both are empty, else 0.
    """
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not predicted or not expected:
        return float(predicted == expected)
    overlap = sum((Counter(predicted) & Counter(expected)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


# -- labels ------------------------------------------------------------------------


def normalize_label(text: str) -> str:
    """Lower-case, punctuation out, whitespace collapsed; articles kept, so the label "A" survives."""
    return " ".join(_strip_punctuation(text.casefold()).split())


def label_set(references: Sequence[str]) -> list[str] | None:
    """The sorted labels when the references look like labels, else None.

    Labels: at least two items; every reference non-empty, at most 3 words and 32 characters; at most
    20 distinct values and at most one distinct value per two items.
    """
    if len(references) < 2:
        return None
    if any(not _short(reference) for reference in references):
        return None
    distinct = {normalize_label(reference) for reference in references}
    if len(distinct) > MAX_DISTINCT_LABELS or len(distinct) > MAX_DISTINCT_SHARE * len(references):
        return None
    return sorted(distinct)


def _short(reference: str) -> bool:
    text = reference.strip()
    return bool(normalize_label(text)) and len(text) <= MAX_LABEL_CHARS and len(text.split()) <= MAX_LABEL_WORDS


@dataclass(frozen=True)
class LabelScores:
    accuracy: float
    macro_f1: float
    classes: list[ClassScore]


def label_scores(pairs: Sequence[tuple[str, str]]) -> LabelScores | None:
    """Accuracy, macro-F1 and a per-class table from (reference label, predicted label) pairs.

    The classes are the reference labels. A class never predicted scores F1 0 and still counts in
    the macro average; a prediction outside the classes is wrong and is nobody's false positive.
    """
    if not pairs:
        return None
    classes = sorted({reference for reference, _ in pairs})
    table = [_class_score(label, pairs) for label in classes]
    accuracy = sum(reference == predicted for reference, predicted in pairs) / len(pairs)
    return LabelScores(accuracy, sum(score.f1 for score in table) / len(table), table)


def _class_score(label: str, pairs: Sequence[tuple[str, str]]) -> ClassScore:
    true_pos = sum(reference == label and predicted == label for reference, predicted in pairs)
    predicted = sum(predicted == label for _, predicted in pairs)
    support = sum(reference == label for reference, _ in pairs)
    precision = true_pos / predicted if predicted else 0.0
    recall = true_pos / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ClassScore(label=label, precision=precision, recall=recall, f1=f1, support=support)


# -- aggregates ----------------------------------------------------------------------


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100), interpolating linearly between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion; None when there are no trials."""
    if n <= 0:
        return None
    p = successes / n
    spread = z * z / n
    centre = (p + spread / 2) / (1 + spread)
    half = z * math.sqrt(p * (1 - p) / n + spread / (4 * n)) / (1 + spread)
    return max(0.0, centre - half), min(1.0, centre + half)
