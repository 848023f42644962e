"""`/tune train … trainer:local` drives the whole job card to the end: a real training process, the fake Slack."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from tests.capture_helpers import answered_question
from tests.conftest import ADMIN, GENERAL, Harness, make_settings, served
from tests.selfhost_helpers import ModelServer
from tests.test_e2e_jobs import card_text, dataset, job_row, preflight, start
from tests.waiting import REAL_WAIT, eventually

pytestmark = pytest.mark.usefixtures("fast_cards_offline")


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> AsyncIterator[Harness]:
    settings = make_settings(
        tmp_path,
        slack,
        oai,
        TUNELOOP_POLL_SECONDS="3600",
        TUNELOOP_ARTIFACTS=str(tmp_path / "artifacts"),
        TUNELOOP_GPU_HOUR_USD="2.5",
    )
    async with served(settings, slack) as harness:
        yield harness


async def test_train_with_the_local_trainer_to_succeeded_with_a_loss_curve(
    app: Harness, slack: FakeSlack, tiny_model: Path
) -> None:
    await dataset(app)
    job = await preflight(app, f"train support trainer:local model:{tiny_model} epochs:1 batch:4")
    assert (job["state"], job["trainer"], job["base_model"]) == ("preflight", "local", str(tiny_model))
    assert "self-hosted" in card_text(slack, job) and "GPU-hours" in card_text(slack, job)
    confirm = str(slack.message(GENERAL, job["card_ts"])["blocks"][-2]["elements"][0]["confirm"]["text"])
    assert "own hardware with the `local` trainer" in confirm and "paid job" not in confirm
    await start(app, job)
    assert (await job_row(app, job["id"]))["provider_job_id"] == job["id"]

    async def finished() -> bool:
        await app.runtime.monitor.tick()
        return (await job_row(app, job["id"]))["state"] in ("succeeded", "failed", "cancelled")

    await eventually(finished, timeout=REAL_WAIT, interval=0.2)
    await app.settle()
    done = await job_row(app, job["id"])
    assert done["state"] == "succeeded", done["error_message"]
    assert done["fine_tuned_model"] == f"tuneloop-{job['id']}" and done["step"] == done["total_steps"] == 3
    assert done["train_loss"] > 0 and done["valid_loss"] > 0
    assert done["fine_tuned_model"] in card_text(slack, job)
    # The run's own time beside the estimate (one GPU per job by default: wall-clock hours here).
    started, finished = (
        datetime.fromisoformat(done[key].replace("Z", "+00:00")) for key in ("created_at", "finished_at")
    )
    assert 0 < done["gpu_hours"] <= (finished - started).total_seconds() / 3600 + 1e-6
    assert f"{done['gpu_hours']:.3g} GPU-hours measured" in card_text(slack, job) and done["serving_note"] is None
    published = Path(app.runtime.settings.artifacts_root) / "adapters" / done["fine_tuned_model"]
    assert (published / "adapter_config.json").is_file() and published.resolve().parts[-3:] == (
        job["id"],
        "out",
        "adapter",
    )
    (curve,) = [f for f in slack.files if f.filename.endswith("-loss.png")]
    assert curve.content.startswith(b"\x89PNG") and curve.thread_ts == job["card_ts"]
    points = await app.db.fetchall("SELECT step, train_loss FROM job_metrics WHERE job_id = ?", (job["id"],))
    assert [row["step"] for row in points] == [1, 2, 3]


async def test_a_local_model_folder_counts_tokens_exactly_a_catalogue_model_estimates(
    app: Harness, slack: FakeSlack, tiny_model: Path
) -> None:
    from transformers import AutoTokenizer

    ref = await dataset(app)
    job = await preflight(app, f"train support trainer:local model:{tiny_model}")
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model), local_files_only=True)
    train = {f.split: f.path for f in (await app.runtime.services.datasets.show(ref)).files}["train"]
    conversations = [json.loads(line)["messages"] for line in train.read_text().splitlines()]
    expected = sum(
        len(tokenizer(tokenizer.apply_chat_template(c, tokenize=False), add_special_tokens=False)["input_ids"])
        for c in conversations
    )
    assert job["tokens"] == expected and job["tokens_note"] == "exact: counted with the model's own tokenizer"
    assert "exact: counted with the model" in card_text(slack, job)
    catalogued = await preflight(app, "train support trainer:local")
    assert catalogued["base_model"] != str(tiny_model)
    assert catalogued["tokens_note"] == "estimate: counted with OpenAI's tokenizer"
    assert "estimate: counted with OpenAI" in card_text(slack, catalogued)
    assert catalogued["tokens"] != expected


async def test_a_model_that_is_neither_known_nor_a_folder_is_refused(app: Harness, slack: FakeSlack) -> None:
    await dataset(app)
    await app.command("train support trainer:local model:/no/such/model", user=ADMIN)
    await app.settle()
    assert "or a readable local folder holding a Hugging Face model" in slack.responses[-1]["text"]
    assert await app.db.fetchval("SELECT count(*) FROM jobs") == 0


@pytest.fixture(scope="module")
def model_server(tiny_model: Path) -> Iterator[ModelServer]:
    server = ModelServer(tiny_model)
    server.start()
    yield server
    server.stop()


async def test_a_local_adapter_is_served_evaluated_promoted_and_answers_after_a_server_restart(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, tiny_model: Path, model_server: ModelServer
) -> None:
    serve_url = model_server.url
    settings = make_settings(
        tmp_path,
        slack,
        oai,
        TUNELOOP_POLL_SECONDS="3600",
        TUNELOOP_SERVE_URL=serve_url,
        TUNELOOP_ARTIFACTS=str(tmp_path / "artifacts"),
        TUNELOOP_JUDGE_MODEL="gpt-4.1",
    )
    async with served(settings, slack) as app:
        await dataset(app)
        job = await preflight(app, f"train support trainer:local model:{tiny_model} epochs:1 batch:4")
        await start(app, job)

        async def finished() -> bool:
            await app.runtime.monitor.tick()
            return (await job_row(app, job["id"]))["state"] in ("succeeded", "failed", "cancelled")

        await eventually(finished, timeout=REAL_WAIT, interval=0.2)
        await app.settle(timeout=300)  # the automatic evaluation answers through the model server
        adapter = f"tuneloop-{job['id']}"
        evaluation = await app.db.fetchone("SELECT * FROM evaluations")
        assert (evaluation["candidate"], evaluation["baseline"], evaluation["state"]) == (
            adapter,
            "gpt-4.1-mini",
            "done",
        )  # the answering model, as the promotion gate asks
        async with aiohttp.ClientSession() as session, session.get(f"{serve_url}/models") as response:
            served_models = {card["id"]: card for card in (await response.json())["data"]}
        assert served_models[adapter]["parent"] == str(tiny_model)
        assert served_models[adapter]["root"].endswith(f"artifacts/adapters/{adapter}")

        # The tiny random model is worse than the answering model, so the promotion gate needs force:yes.
        status, _ = await app.command(f"promote {job['id']} force:yes reason:test", user=ADMIN)
        await app.settle(timeout=120)
        bot_posts = [m["text"] for m in slack.history(GENERAL) if m["user"] == "U0BOT"]
        assert status == 200 and f"promoted `{adapter}`" in bot_posts[0]
        history = await app.db.fetchone("SELECT * FROM model_changes ORDER BY id DESC LIMIT 1")
        assert (history["model"], history["job_id"]) == (adapter, job["id"])
        await answered_question(app, slack)
        answer = await app.db.fetchone("SELECT * FROM answers ORDER BY id DESC LIMIT 1")
        assert answer["model"] == adapter and answer["error"] is None

        # A redeploy: the new server holds no adapter. The next (streamed) answer loads it again; no fallback.
        model_server.restart()
        await answered_question(app, slack, "still you?")
        answer = await app.db.fetchone("SELECT * FROM answers ORDER BY id DESC LIMIT 1")
        assert (answer["model"], answer["error"], answer["status"]) == (adapter, None, "answered")
        assert await app.db.fetchval("SELECT count(*) FROM model_changes WHERE action = 'fallback'") == 0
        status, _ = await app.command("model", user=ADMIN)
        await app.settle()
        assert f"answers with `{adapter}`" in slack.responses[-1]["text"]
        assert "Fell back" not in slack.responses[-1]["text"]

        # An adapter evaluated on a server that serves another base is refused, saying what it serves.
        await app.db.execute("UPDATE jobs SET base_model = 'Qwen/Qwen2.5-0.5B-Instruct' WHERE id = ?", (job["id"],))
        evaluations = await app.db.fetchval("SELECT count(*) FROM evaluations")
        await app.command(f"eval {job['id']}", user=ADMIN)
        await app.settle(timeout=120)
        said = " ".join(str(r.get("text")) for r in slack.responses[-3:])
        assert f"serves `{tiny_model}`" in said and "trained on `Qwen/Qwen2.5-0.5B-Instruct`" in said
        assert await app.db.fetchval("SELECT count(*) FROM evaluations") == evaluations


async def test_without_a_serve_url_a_self_hosted_model_cannot_be_promoted_and_says_why(
    app: Harness, slack: FakeSlack
) -> None:
    ref = await dataset(app)
    await app.db.execute(  # a job the local back-end finished: its adapter is served by the self-hosted server
        "INSERT INTO jobs (id, dataset_id, dataset, trainer, base_model, method, options, examples, tokens, epochs,"
        " state, provider_job_id, fine_tuned_model, channel, requested_by) VALUES ('jabcdef', 1, ?, 'local',"
        " 'HuggingFaceTB/SmolLM2-135M-Instruct', 'sft', '{}', 14, 500, 1, 'succeeded', 'jabcdef', 'tuneloop-jabcdef',"
        " ?, ?)",
        (ref, GENERAL, ADMIN),
    )
    status, _ = await app.command("promote tuneloop-jabcdef force:yes reason:test", user=ADMIN)
    await app.settle()
    assert status == 200 and "TUNELOOP_SERVE_URL is not set" in slack.responses[-1]["text"]
