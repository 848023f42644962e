"""SFT trains on the rated answer only, with each self-hosted base's own chat template, verbatim.

Tiny models built in code carry the real templates (tests/data/chat_templates, sources in SOURCES.md);
the catalogue carries the same strings for the bot's pre-flight.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from selfhost.chat_template import render, template_problem
from selfhost.data import read_rows
from selfhost.options import parse_options
from selfhost.plan import Hardware, make_plan
from tests.selfhost_helpers import (
    BASE_TEMPLATES,
    FAMILY_TOKENS,
    SYSTEM,
    build_tiny_model,
    chat_template,
    run_training,
    sft_lines,
    train_command,
    write_jsonl,
)
from tuning.catalogue.entries import packaged_catalogue

FAMILIES = sorted(set(BASE_TEMPLATES.values()))
THREAD = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Who owns the billing service?"},
    {"role": "assistant", "content": "Ask in the payments channel."},
    {"role": "user", "content": "Which team exactly?"},
    {"role": "assistant", "content": "The payments team owns the billing service."},
]


def _tokens(family: str) -> dict[str, str]:
    bos, eos = FAMILY_TOKENS[family]
    return {"bos_token": bos, "eos_token": eos}


def test_every_self_hosted_base_in_the_catalogue_carries_its_real_template() -> None:
    catalogue = packaged_catalogue()
    offered = {name for backend in ("local", "ray") for name in catalogue.trainable(backend)}
    assert offered == set(BASE_TEMPLATES)  # a new self-hosted base needs its template here too
    for name, family in BASE_TEMPLATES.items():
        facts = catalogue.require(name)
        assert facts.chat_template == chat_template(family), name
        assert facts.chat_template_source and "2026" in facts.chat_template_source
        assert template_problem(facts.chat_template) is None, name  # what the bot's pre-flight asks


@pytest.mark.parametrize("family", FAMILIES)
def test_each_catalogue_template_can_train_prompt_completion(family: str) -> None:
    assert template_problem(chat_template(family), THREAD[:-1], THREAD[-1:], _tokens(family)) is None
    assert (
        template_problem(chat_template(family), special_tokens=_tokens(family)) is None
    )  # the pre-flight's own sample


def test_a_known_bad_template_is_refused_with_the_reason() -> None:
    problem = template_problem(chat_template("deepseek_r1_distill"), special_tokens=_tokens("deepseek_r1_distill"))
    assert problem is not None
    assert problem.startswith("the chat template renders the thread differently once the answer follows it")
    assert "<think>" in problem


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        (None, "the model has no chat template"),
        ("{% for m in messages %}{{ m['content'] }}\n{% endfor %}", "ignores add_generation_prompt"),
        ("{{ raise_exception('System role not supported') }}", "refuses this conversation: System role not supported"),
        ("{% for m in messages %}{{ m['content'] }", "cannot be rendered (TemplateSyntaxError"),
        (
            "{% for m in messages %}{% if m['role'] != 'assistant' %}{{ m['content'] }}{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}A:{% endif %}",
            "renders the thread differently",
        ),
    ],
)
def test_templates_that_cannot_train_say_why(template: str | None, reason: str) -> None:
    problem = template_problem(template)
    assert problem is not None and reason in problem


def _sft_trainer(model: Path, tmp_path: Path) -> Any:
    from datasets import Dataset  # type: ignore[import-untyped]

    from selfhost.modeling import load_for_training, load_tokenizer
    from selfhost.progress import ProgressLines
    from selfhost.train import _trainer

    train = write_jsonl(tmp_path / "train.jsonl", [{"messages": THREAD}])
    options = parse_options(
        [
            "--base-model",
            str(model),
            "--train-file",
            str(train),
            "--output-dir",
            str(tmp_path / "out"),
            "--max-length",
            "512",
        ]
    )
    plan = make_plan(options, Hardware(cuda=False))
    return _trainer(
        options,
        plan,
        load_for_training(options, plan),
        load_tokenizer(str(model)),
        Dataset.from_list(read_rows(train, "sft")),
        None,
        ProgressLines(),
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_the_loss_covers_the_rated_answer_only(family: str, tmp_path: Path) -> None:
    """Decode the tokens whose labels count towards the loss: exactly what the template renders for the answer."""
    model = build_tiny_model(tmp_path / "model", family)
    trainer = _sft_trainer(model, tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labels = batch["labels"][0]
    counted = trainer.processing_class.decode(labels[labels != -100])
    tokens = _tokens(family)
    prompt_text = render(chat_template(family), THREAD[:-1], True, **tokens)
    answer_text = render(chat_template(family), THREAD, False, **tokens)[len(prompt_text) :]
    assert counted == answer_text
    assert counted.startswith("The payments team owns the billing service.")
    assert "Ask in the payments channel." not in counted  # an earlier answer in the thread is context only


def test_a_model_with_llama_3_1s_template_trains_through_the_program(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "model", "llama3_1")
    train = write_jsonl(tmp_path / "train.jsonl", sft_lines(4))
    code, lines, stderr = run_training(train_command(model, train, tmp_path / "out", "--max-steps", "2"))
    assert code == 0, stderr[-2000:]
    assert [line["step"] for line in lines if line["kind"] == "progress"] == [1, 2]
    assert lines[-1]["kind"] == "done"


def test_the_program_refuses_a_model_whose_template_cannot_train(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "model", "deepseek_r1_distill")
    train = write_jsonl(tmp_path / "train.jsonl", sft_lines(2))
    code, lines, _ = run_training(train_command(model, train, tmp_path / "out"))
    assert code == 2
    assert [line["kind"] for line in lines] == ["error"]
    assert lines[0]["error"].startswith("The chat template renders the thread differently")
    assert not (tmp_path / "out" / "adapter").exists()


def test_the_template_check_and_the_plan_load_without_torch() -> None:
    """The bot runs the check at pre-flight without the training extras: jinja2 only."""
    import subprocess
    import sys

    from tests.selfhost_helpers import ROOT, offline_env

    probe = (
        "import sys, selfhost.chat_template, selfhost.plan; "
        "print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"
