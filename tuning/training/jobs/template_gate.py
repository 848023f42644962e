"""Pre-flight's template check: a self-hosted base whose chat template cannot train is refused before any cost.

The catalogue carries each offered base's chat template verbatim; it is rendered with jinja2 on the dataset's
first example (`selfhost.chat_template`: no torch, no download). A local folder is not in the catalogue: the
training program checks the template its tokenizer carries before its first step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfhost.chat_template import template_problem
from tuning.catalogue.entries import Catalogue

Messages = list[dict[str, str]]


def template_refusal(catalogue: Catalogue, model: str, train_file: Path) -> str | None:
    """Why `model` cannot be trained on this dataset's examples, in words for the person asking; None when it can."""
    entry = catalogue.entry(model)
    if entry is None or entry.chat_template is None:
        return None
    example = first_example(train_file)
    problem = template_problem(entry.chat_template, *example) if example else template_problem(entry.chat_template)
    if problem is None:
        return None
    source = entry.chat_template_source or "the model catalogue"
    return (
        f"`{model}` cannot be fine-tuned: {problem[0].upper()}{problem[1:]} (Its chat template, from {source}, "
        "was rendered on this dataset's first example.) Choose another `model:`, or a local model folder "
        "whose template trains."
    )


def first_example(train_file: Path) -> tuple[Messages, Messages] | None:
    """(prompt, completion) of the file's first line, whatever the format; None when it has none."""
    with train_file.open(encoding="utf-8") as lines:
        text = next((line for line in lines if line.strip()), None)
    if text is None:
        return None
    line: dict[str, Any] = json.loads(text)
    if "messages" in line:  # SFT: the thread, then the rated answer
        return line["messages"][:-1], line["messages"][-1:]
    if "input" in line:  # DPO: the preferred answer
        return line["input"]["messages"], line["preferred_output"]
    return line["prompt"], line["completion"]  # KTO
