"""Evaluation: a tuned model against its base, on items with approved answers.

types (results) · metrics (pure scores) · cost · judge (pairwise, order-swapped) · clients (which
client answers for which model, the call limit) · summary (aggregates) · runner (`evaluate`) · export
"""

from tuning.evaluation.clients import ChatLike, Clients
from tuning.catalogue import ModelPrice
from tuning.evaluation.cost import PriceLookup, no_prices
from tuning.evaluation.export import results_jsonl
from tuning.evaluation.runner import DEFAULT_CONCURRENCY, Progress, evaluate
from tuning.evaluation.types import EvalItem, EvalResult, EvalSummary, ItemResult

__all__ = [
    "DEFAULT_CONCURRENCY", "ChatLike", "Clients", "EvalItem", "EvalResult", "EvalSummary", "ItemResult",
    "ModelPrice", "PriceLookup", "Progress", "evaluate", "no_prices",
    "results_jsonl",
]
