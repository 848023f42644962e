"""Pre-flight renders a self-hosted base's catalogue chat template on the dataset's first example and refuses,
before any cost is shown, a base it cannot train (jinja2 only: no torch in the bot)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from tests.conftest import ADMIN, Harness, make_settings, served
from tests.test_e2e_jobs import card_text, dataset, preflight

TEMPLATES = Path(__file__).parent / "data" / "chat_templates"
BAD_BASE = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> AsyncIterator[Harness]:
    """An operator's models.toml offers a base whose real template cannot train on prompt/completion."""
    template = (TEMPLATES / "deepseek_r1_distill.jinja").read_text(encoding="utf-8")
    (tmp_path / "models.toml").write_text(
        f'[models."{BAD_BASE}"]\nprovider = "huggingface"\ntrain = {{ local = ["sft"] }}\nparameters_billion = 1.5\n'
        f"chat_template = {json.dumps(template)}\n"
        'chat_template_source = "trl 1.16.0 trl/chat_templates/deepseek_r1_distill.jinja"\n',
        encoding="utf-8",
    )
    settings = make_settings(tmp_path, slack, oai, TUNELOOP_ARTIFACTS=str(tmp_path / "artifacts"))
    async with served(settings, slack) as harness:
        yield harness


async def test_a_base_whose_template_cannot_train_is_refused_before_any_cost(app: Harness, slack: FakeSlack) -> None:
    await dataset(app)
    status, _ = await app.command(f"train support trainer:local model:{BAD_BASE}", user=ADMIN)
    await app.settle()
    said = slack.responses[-1]["text"]
    assert status == 200 and f"`{BAD_BASE}` cannot be fine-tuned" in said
    assert "renders the thread differently once the answer follows it" in said and "deepseek_r1_distill" in said
    assert "$" not in said and "GPU-hours" not in said
    assert await app.db.fetchval("SELECT count(*) FROM jobs") == 0


async def test_the_default_base_with_its_stock_template_passes(app: Harness, slack: FakeSlack) -> None:
    await dataset(app)
    job = await preflight(app, "train support trainer:local")
    assert job["state"] == "preflight" and job["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "GPU-hours" in card_text(slack, job)


def test_every_offered_self_hosted_base_passes_on_each_format(tmp_path: Path) -> None:
    """SFT, DPO and KTO lines give the check the same thread and answer."""
    from tuning.catalogue.entries import packaged_catalogue
    from tuning.training.jobs.template_gate import first_example, template_refusal

    catalogue = packaged_catalogue()
    bases = sorted(set(catalogue.trainable("local")) | set(catalogue.trainable("ray")))
    assert bases and all(catalogue.facts(base).chat_template for base in bases)
    thread = [{"role": "system", "content": "S"}, {"role": "user", "content": "Where is the guide?"}]
    answer = [{"role": "assistant", "content": "In the wiki."}]
    lines = {
        "sft": {"messages": thread + answer},
        "dpo": {
            "input": {"messages": thread},
            "preferred_output": answer,
            "non_preferred_output": [{"role": "assistant", "content": "No idea."}],
        },
        "kto": {"prompt": thread, "completion": answer, "label": False},
    }
    for fmt, line in lines.items():
        path = tmp_path / f"{fmt}.jsonl"
        path.write_text(json.dumps(line) + "\n", encoding="utf-8")
        assert first_example(path) == (thread, answer)
        assert [template_refusal(catalogue, base, path) for base in bases] == [None] * len(bases)
