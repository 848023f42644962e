"""Evaluation: a tuned model against its base, on items with approved answers.

types (results) · metrics (pure scores) · cost · judge (pairwise, order-swapped) · clients (which
client answers for which model, the call limit) · summary (aggregates) · runner (`evaluate`) · export
"""

from tuning.catalogue.entries import ModelPrice
from tuning.release.evaluation.clients import ChatLike, Clients
from tuning.release.evaluation.cost import PriceLookup, no_prices
from tuning.release.evaluation.export import results_jsonl
from tuning.release.evaluation.results import EvalItem, EvalResult, EvalSummary, ItemResult
from tuning.release.evaluation.runner import DEFAULT_CONCURRENCY, Progress, evaluate

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ChatLike",
    "Clients",
    "EvalItem",
    "EvalResult",
    "EvalSummary",
    "ItemResult",
    "ModelPrice",
    "PriceLookup",
    "Progress",
    "evaluate",
    "no_prices",
    "results_jsonl",
]
