"""`/tune dataset build|show|list` end to end: signed slash commands in, the card and its files in fake Slack."""

from __future__ import annotations

from bot.fakes import FakeSlack
from tests.capture_helpers import answered_question, vote
from tests.conftest import ALICE, BOB, GENERAL, Harness
from tests.dataset_helpers import add_example, assert_file_passes_checks


async def seed(app: Harness, slack: FakeSlack) -> str:
    """One example through the real answer-and-👍 flow, eleven more as capture stores them."""
    answer_ts = await answered_question(app, slack, "how do I reset the router?")
    await vote(app, user=BOB, ts=answer_ts)
    for i in range(11):
        await add_example(app.db, question=f"Question {i}?", answer=f"Answer {i}.", channel=GENERAL)
    await add_example(app.db, question="Elsewhere?", answer="Not in general.", channel="C0OTHER")
    row = await app.db.fetchone("SELECT answer FROM examples WHERE message_ts = ?", (answer_ts,))
    return row["answer"]


async def test_build_posts_the_card_and_attaches_the_files_in_its_thread(app: Harness, slack: FakeSlack) -> None:
    voted_answer = await seed(app, slack)
    status, _ = await app.command("dataset build support channel:#general val:0.2", user=ALICE)
    assert status == 200
    await app.settle(timeout=30)

    assert "Building dataset `support`" in slack.responses[0]["text"]
    (card,) = [c for c in slack.calls_to("chat.postMessage") if "Dataset support@1" in str(c.args.get("blocks"))]
    assert card.args["channel"] == GENERAL
    assert "estimate" in card.args["text"] and "12 examples" in card.args["text"]

    summary = await app.runtime.services.datasets.show("support")
    assert (summary.ref, summary.examples, summary.created_by, summary.filters.channel_id) == (
        "support@1",
        12,
        ALICE,
        GENERAL,
    )
    by_name = {f.filename: f for f in slack.files}
    assert sorted(by_name) == ["support@1.train.jsonl", "support@1.validation.jsonl"]
    for dataset_file in summary.files:
        uploaded = by_name[f"support@1.{dataset_file.path.name}"]
        assert uploaded.channel_id == GENERAL
        assert "Dataset support@1" in str(slack.message(GENERAL, uploaded.thread_ts)["blocks"])  # the card's thread
        assert uploaded.content == dataset_file.path.read_bytes()
        assert assert_file_passes_checks(dataset_file.path, "sft") == dataset_file.lines
    everything = b"".join(f.content for f in slack.files).decode()
    assert voted_answer in everything and "Not in general." not in everything


async def test_show_list_and_an_unknown_name(app: Harness, slack: FakeSlack) -> None:
    await seed(app, slack)
    await app.command("dataset build support")
    await app.settle(timeout=30)

    await app.command("dataset show support@1")
    await app.settle()
    shown = str(slack.responses[-1]["blocks"])
    assert "Dataset support@1" in shown and "sha256" in shown and "all approved examples" in shown

    await app.command("dataset list")
    await app.settle()
    assert "support@1" in slack.responses[-1]["text"]

    await app.command("dataset show nope")
    await app.settle()
    assert slack.responses[-1]["response_type"] == "ephemeral"
    assert "There is no dataset `nope`. Known datasets: `support`." in slack.responses[-1]["text"]


async def test_without_the_bot_in_the_channel_the_card_comes_back_privately(app: Harness, slack: FakeSlack) -> None:
    slack.add_channel("C0OUTSIDE", "outside", is_member=False)
    await seed(app, slack)
    await app.command("dataset build support", channel="C0OUTSIDE")
    await app.settle(timeout=30)
    texts = [response["text"] for response in slack.responses]
    assert any("Dataset support@1" in text for text in texts)
    assert any("not attached" in text and "invite it with `/invite @tuneloop`" in text for text in texts)
    assert slack.files == []


async def test_a_refused_upload_is_explained_and_the_card_stays(app: Harness, slack: FakeSlack) -> None:
    await seed(app, slack)
    slack.fail("files.getUploadURLExternal", error="not_allowed_token_type", times=5)
    await app.command("dataset build support")
    await app.settle(timeout=30)
    assert any("Dataset support@1" in str(c.args.get("blocks")) for c in slack.calls_to("chat.postMessage"))
    assert "Slack refused the upload: not_allowed_token_type" in slack.responses[-1]["text"]
    assert slack.files == []
