"""Token statistics without a list of every count: a histogram per split.

Memory is bounded by the number of distinct counts (at most the per-example limit, 65,536), not by
the number of examples, so a million-example build keeps it as small as a hundred-example one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tuning.training.datasets.specs import Split, TokenStats


class TokenTally:
    def __init__(self) -> None:
        self._splits: dict[Split, Counter[int]] = {"train": Counter(), "validation": Counter()}

    def add(self, split: Split, tokens: int) -> None:
        self._splits[split][tokens] += 1

    def add_many(self, split: Split, tokens: Iterable[int]) -> None:
        self._splits[split].update(tokens)

    def remove(self, split: Split, tokens: int) -> None:
        self._splits[split][tokens] -= 1

    def move(self, tokens: int, source: Split, target: Split) -> None:
        self._splits[source][tokens] -= 1
        self._splits[target][tokens] += 1

    def stats(self) -> TokenStats:
        both = self._splits["train"] + self._splits["validation"]
        return TokenStats(
            total=_total(both),
            train=_total(self._splits["train"]),
            median=_nearest_rank(both, 50),
            p90=_nearest_rank(both, 90),
            max=max(both, default=0),
        )


def _total(counts: Counter[int]) -> int:
    return sum(tokens * n for tokens, n in counts.items())


def _nearest_rank(counts: Counter[int], percent: int) -> int:
    """The smallest count with at least `percent`% of examples at or below it."""
    examples = sum(counts.values())
    if examples == 0:
        return 0
    rank = max(1, (examples * percent + 99) // 100)  # ceil(examples·percent/100), in integers
    seen = 0
    for tokens in sorted(counts):
        seen += counts[tokens]
        if seen >= rank:
            return tokens
    raise AssertionError("unreachable: rank <= examples")
