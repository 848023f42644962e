"""Train or validation, decided by the example's id alone.

A hash of the id gives each example a fixed point in [0, 1); it is validation when the point is
below `val`. Adding examples never moves an old one across, and with the same `val` an example is
on the same side in every dataset, so no model is evaluated on what it was trained on.

The one exception is the at-least-one rule (build.py): with 10 or more examples and none hashed
into validation, the train example with the lowest point is moved to validation for that version.
In a later version, once some example hashes into validation by itself, that one goes back to train.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuning.training.datasets.specs import Split

MIN_EXAMPLES_FOR_FORCED_VALIDATION = 10
_MASK = (1 << 64) - 1


def split_point(example_id: int) -> float:
    """splitmix64 of the id, scaled to [0, 1): fixed forever, well mixed, and cheap at a million calls.
    Changing this function would move examples across splits: don't."""
    z = (example_id + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return (z ^ (z >> 31)) / 2**64


def split_of(example_id: int, val: float) -> Split:
    return "validation" if split_point(example_id) < val else "train"


def needs_forced_validation(train: int, validation: int, val: float) -> bool:
    return val > 0 and validation == 0 and train + validation >= MIN_EXAMPLES_FOR_FORCED_VALIDATION
