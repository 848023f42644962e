import pytest
from hypothesis import given
from hypothesis import strategies as st

from tuning.catalogue.entries import packaged_catalogue
from tuning.release.evaluation.cost import ModelPrice, cost_per_thousand, no_prices
from tuning.release.evaluation.metrics import (
    exact_match,
    label_scores,
    label_set,
    normalize_answer,
    normalize_label,
    percentile,
    token_f1,
    wilson_interval,
)
from tuning.release.evaluation.results import ModelAnswer
from tuning.release.evaluation.summary import model_metrics

# -- normalisation, exact match, token F1 ------------------------------------------


def test_normalisation_is_squad_style() -> None:
    assert normalize_answer("The Cat, sat on a MAT!") == "cat sat on mat"
    assert normalize_answer("  An   apple\n\tthe end ") == "apple end"
    # Unicode punctuation too, and punctuation splits words rather than gluing them.
    assert normalize_answer("“Restart” the on-call pod…") == "restart on call pod"
    # Articles only as whole words.
    assert normalize_answer("Theatre and anthem") == "theatre and anthem"


def test_exact_match_ignores_case_punctuation_and_articles() -> None:
    assert exact_match("the cat.", "Cat") == 1.0
    assert exact_match("a cat", "cats") == 0.0


def test_token_f1_on_hand_computed_cases() -> None:
    # [cat, sat] vs [cat, sat, down]: P = 1, R = 2/3, F1 = 0.8
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    # Repeats count once per occurrence: overlap min(3, 1) = 1, P = 1/3, R = 1/2, F1 = 0.4
    assert token_f1("go go go", "go stop") == pytest.approx(0.4)
    assert token_f1("dog", "cat") == 0.0
    assert token_f1("Cat sat.", "the sat cat") == 1.0


def test_empty_answers_and_references() -> None:
    assert token_f1("", "cat") == 0.0
    assert exact_match("", "cat") == 0.0
    assert token_f1("cat", "") == 0.0
    assert exact_match("cat", "") == 0.0
    # Both empty (after normalisation) is a match, as in SQuAD.
    assert token_f1("", "") == 1.0
    assert exact_match("The.", "") == 1.0
    assert token_f1("a", "the") == 1.0


@given(st.text(max_size=40), st.text(max_size=40))
def test_f1_is_a_symmetric_score_and_exact_match_implies_full_f1(prediction: str, reference: str) -> None:
    f1 = token_f1(prediction, reference)
    assert 0.0 <= f1 <= 1.0
    assert f1 == pytest.approx(token_f1(reference, prediction))
    if exact_match(prediction, reference):
        assert f1 == 1.0


# -- labels ------------------------------------------------------------------------------


def test_short_repeated_references_are_labels() -> None:
    assert label_set(["positive", "negative", "positive", "negative"]) == ["negative", "positive"]
    assert label_set(["Positive.", "positive", "NEGATIVE", "negative "]) == ["negative", "positive"]
    # Multiple-choice letters survive: label normalisation keeps articles.
    assert label_set(["A", "B", "A", "B"]) == ["a", "b"]
    assert normalize_label("  Needs   Review! ") == "needs review"


def test_free_text_and_borderline_references_are_not_labels() -> None:
    assert label_set(["Restart the pod and check the logs for errors.", "yes", "yes", "no"]) is None
    assert label_set(["one two three four", "yes", "yes", "yes"]) is None  # 4 words
    assert label_set(["x" * 33, "yes", "yes", "yes"]) is None  # 33 characters
    assert label_set(["", "yes", "yes", "yes"]) is None  # an empty reference
    assert label_set(["yes"]) is None  # one item says nothing
    assert label_set(["a", "b", "c", "a", "b"]) is None  # 3 distinct > half of 5


def test_at_most_twenty_distinct_labels() -> None:
    twenty = [f"class {n}" for n in range(20)] * 5
    assert label_set(twenty) is not None
    assert label_set(twenty + [f"class {n}" for n in range(20, 21)] * 5) is None


def test_macro_f1_counts_a_class_never_predicted_and_predictions_outside_the_labels_are_wrong() -> None:
    references = ["cat", "cat", "cat", "dog", "dog", "bird"]
    predictions = ["cat", "cat", "dog", "dog", "fish", "dog"]
    scores = label_scores(list(zip(references, predictions, strict=True)))
    assert scores is not None
    by_label = {c.label: c for c in scores.classes}
    assert list(by_label) == ["bird", "cat", "dog"]  # "fish" is no class
    assert (by_label["cat"].precision, by_label["cat"].recall) == (1.0, pytest.approx(2 / 3))
    assert by_label["cat"].f1 == pytest.approx(0.8)
    assert (by_label["dog"].precision, by_label["dog"].recall) == (pytest.approx(1 / 3), 0.5)
    assert by_label["dog"].f1 == pytest.approx(0.4)
    assert (by_label["bird"].f1, by_label["bird"].support) == (0.0, 1)
    assert scores.accuracy == 0.5
    assert scores.macro_f1 == pytest.approx((0.8 + 0.4 + 0.0) / 3)


def test_no_pairs_no_label_scores() -> None:
    assert label_scores([]) is None


# -- aggregates --------------------------------------------------------------------------


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([400, 100, 300, 200], 50) == 250
    assert percentile([100, 200, 300, 400], 95) == pytest.approx(385)
    assert percentile([42], 95) == 42
    assert percentile([], 50) is None


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [(8, 10, 0.490, 0.943), (0, 10, 0.0, 0.278), (10, 10, 0.722, 1.0), (50, 100, 0.404, 0.596), (7, 10, 0.397, 0.892)],
)
def test_wilson_interval_matches_known_values(successes: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, n)
    assert interval is not None
    assert interval == (pytest.approx(low, abs=5e-4), pytest.approx(high, abs=5e-4))


def test_wilson_interval_without_trials_is_none() -> None:
    assert wilson_interval(0, 0) is None


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_the_observed_rate(case: tuple[int, int]) -> None:
    successes, n = case
    interval = wilson_interval(successes, n)
    assert interval is not None
    assert 0.0 <= interval[0] <= successes / n + 1e-12 <= interval[1] + 2e-12 <= 1.0 + 2e-12


# -- cost --------------------------------------------------------------------------------


def test_cost_per_thousand_answers() -> None:
    # 500 input tokens at $2/M + 100 output tokens at $8/M = $0.0018 an answer.
    assert cost_per_thousand(ModelPrice(2.0, 8.0), 500, 100) == pytest.approx(1.8)
    assert cost_per_thousand(None, 500, 100) is None
    assert cost_per_thousand(ModelPrice(2.0, 8.0), None, 100) is None


def test_price_lookup_takes_the_longest_prefix() -> None:
    base, mini, tuned = ModelPrice(2, 8), ModelPrice(0.4, 1.6), ModelPrice(0.8, 3.2)
    lookup = packaged_catalogue().inference_price
    assert lookup("gpt-4.1-2025-04-14") == base
    assert lookup("gpt-4.1-mini-2025-04-14") == mini
    assert lookup("ft:gpt-4.1-mini-2025-04-14:acme::abc") == tuned
    assert lookup("Qwen/Qwen2.5-7B-Instruct") is None  # listed, but no answering price known
    assert no_prices("gpt-4.1") is None


# -- one model's aggregate ---------------------------------------------------------------


def answer(text: str | None, reference: str, latency: int = 100, error: str | None = None) -> ModelAnswer:
    if error:
        return ModelAnswer(model="m", error=error)
    return ModelAnswer(
        model="m",
        text=text,
        latency_ms=latency,
        prompt_tokens=1000,
        completion_tokens=10,
        exact_match=exact_match(text or "", reference),
        token_f1=token_f1(text or "", reference),
    )


def test_failed_answers_are_counted_not_scored() -> None:
    references = ["the cat sat", "dog", "bird"]
    answers = [answer("cat sat", references[0], 100), answer("cat", references[1], 300), answer(None, "", error="boom")]
    metrics = model_metrics("m", answers, references, labels=False, prices=lambda _: ModelPrice(1.0, 10.0))
    assert (metrics.answered, metrics.failed) == (2, 1)
    assert metrics.exact_match == 0.5
    assert metrics.token_f1 == 0.5
    assert (metrics.latency_p50_ms, metrics.latency_p95_ms) == (200, pytest.approx(290))
    assert metrics.mean_output_tokens == 10
    # 1000 × $1/M + 10 × $10/M = $0.0011 an answer.
    assert metrics.cost_per_1k_usd == pytest.approx(1.1)
    assert metrics.accuracy is None and metrics.classes == []


def test_unknown_price_shows_as_na_and_labels_are_scored() -> None:
    references = ["yes", "no", "yes", "no"]
    answers = [answer(text, ref) for text, ref in zip(["Yes.", "yes", "yes", "maybe"], references, strict=True)]
    metrics = model_metrics("m", answers, references, labels=True)
    assert metrics.cost_text == "n/a"
    assert metrics.accuracy == 0.5
    # yes: P = 2/3, R = 1, F1 = 0.8; no: never predicted, F1 = 0.
    assert metrics.macro_f1 == pytest.approx(0.4)


def test_nothing_answered_gives_no_scores() -> None:
    metrics = model_metrics("m", [answer(None, "", error="down")], ["x"], labels=False)
    assert (metrics.answered, metrics.failed, metrics.token_f1, metrics.latency_p50_ms) == (0, 1, None, None)
