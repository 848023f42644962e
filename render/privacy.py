"""What `/tune forget` and `tuneloop forget` say."""

from __future__ import annotations

from render.text import plural


def forgotten(who: str, messages: int, votes: int, examples: int, datasets: int) -> str:
    """`who`: a mention in Slack, the id in a terminal."""
    text = (
        f"Erased {who}'s data: {plural(messages, 'message')}, {plural(votes, 'vote')} and "
        f"{plural(examples, 'example')} they were part of."
    )
    if datasets:
        text += (
            f" {plural(datasets, 'dataset version')} built with it now show “contains erased data: rebuild”;"
            " fine-tuned models trained on them still hold what they learned."
        )
    return text
