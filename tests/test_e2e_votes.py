"""👍 and 👎 through signed events: counted once per person, removable, never double-counted."""

from __future__ import annotations

from bot.fakes import FakeSlack
from tests.capture_helpers import answered_question, example, reaction, vote
from tests.conftest import ADMIN, ALICE, BOB, BOT, BOTH_DATABASES, GENERAL, Harness

pytestmark = BOTH_DATABASES


async def test_thumbs_up_on_a_bot_answer_makes_an_approved_example(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack, "how do I reset it?")
    await vote(app, user=BOB, ts=answer_ts)
    row = await example(app, answer_ts)
    assert row["source"] == "bot_answer" and row["state"] == "approved"
    assert (row["up_votes"], row["down_votes"]) == (1, 0)
    assert row["conversation"][-1] == {"role": "user", "content": "how do I reset it?"}
    assert row["conversation"][0]["role"] == "system"
    assert row["answer"] == "Echo: how do I reset it?"
    events = await app.db.fetchall("SELECT action, actor, state FROM example_events WHERE example_id = ?", (row["id"],))
    assert [tuple(e) for e in events] == [("created", None, "candidate"), ("votes", None, "approved")]


async def test_removing_the_reaction_removes_the_vote(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    await vote(app, user=BOB, ts=answer_ts)
    await vote(app, user=BOB, ts=answer_ts, removed=True)
    row = await example(app, answer_ts)
    assert (row["up_votes"], row["state"]) == (0, "candidate")


async def test_one_vote_per_person_whatever_the_alias_or_skin_tone(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    for name in ("+1", "thumbsup", "+1::skin-tone-3"):
        await vote(app, user=BOB, ts=answer_ts, reaction_name=name)
    await vote(app, user=ADMIN, ts=answer_ts, reaction_name="thumbsup::skin-tone-6")
    row = await example(app, answer_ts)
    assert row["up_votes"] == 2
    await vote(app, user=BOB, ts=answer_ts, reaction_name="+1", removed=True)
    assert (await example(app, answer_ts))["up_votes"] == 2  # Bob still has two 👍 variants on it


async def test_retries_never_double_count(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    event = reaction("reaction_added", user=BOB, ts=answer_ts, event_ts="1700000000.000100")
    for retry in (None, 1, 2):
        assert await app.event(event, event_id="Ev0VOTE", retry=retry) == 200
    assert await app.event(event, event_id="Ev0VOTE2") == 200  # same reaction event under a new envelope
    await app.settle()
    assert (await example(app, answer_ts))["up_votes"] == 1
    assert await app.db.fetchval("SELECT count(*) FROM reaction_events") == 1


async def test_out_of_order_add_and_remove_converge(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    await app.event(reaction("reaction_removed", user=BOB, ts=answer_ts, event_ts="1700000002.000000"))
    await app.event(reaction("reaction_added", user=BOB, ts=answer_ts, event_ts="1700000001.000000"))
    await app.settle()
    row = await example(app, answer_ts)
    assert row is None or row["up_votes"] == 0


async def test_thumbs_down_counts_and_keeps_the_example_in_review(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    await vote(app, user=BOB, ts=answer_ts, reaction_name="-1")
    await vote(app, user=ADMIN, ts=answer_ts, reaction_name="+1")
    row = await example(app, answer_ts)
    assert (row["up_votes"], row["down_votes"], row["state"]) == (1, 1, "candidate")


async def test_the_bots_own_reaction_and_the_authors_vote_do_not_count(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    await vote(app, user=BOT, ts=answer_ts)
    assert await example(app, answer_ts) is None
    root = slack.add_message(GENERAL, ALICE, "which port does it use?")
    reply = slack.add_message(GENERAL, BOB, "Port 8443.", thread_ts=root)
    await vote(app, user=BOB, ts=reply, item_user=BOB)
    assert await example(app, reply) is None


async def test_other_reactions_are_ignored_without_touching_the_database(app: Harness, slack: FakeSlack) -> None:
    answer_ts = await answered_question(app, slack)
    before = await app.db.fetchval("SELECT count(*) FROM inbox")
    assert await vote(app, user=BOB, ts=answer_ts, reaction_name="tada") == 200
    assert await app.db.fetchval("SELECT count(*) FROM inbox") == before
    assert await example(app, answer_ts) is None


async def test_thumbs_up_on_a_teammates_reply_is_fetched_and_scrubbed(app: Harness, slack: FakeSlack) -> None:
    root = slack.add_message(GENERAL, ALICE, "Robert, where do I send the invoice? I'm alice@example.com")
    reply = slack.add_message(GENERAL, BOB, "Send it to billing@example.com, Alice.", thread_ts=root)
    await vote(app, user=ADMIN, ts=reply, item_user=BOB)
    row = await example(app, reply)
    assert row["source"] == "teammate_answer" and row["author"] == BOB and row["state"] == "approved"
    assert row["conversation"][0]["role"] == "system"
    assert row["conversation"][1:] == [{"role": "user", "content": "[USER], where do I send the invoice? I'm [EMAIL]"}]
    assert row["answer"] == "Send it to [EMAIL], [USER]."
    assert slack.calls_to("conversations.replies")


async def test_teammate_answer_after_the_bot_answers_the_question_not_the_bot(app: Harness, slack: FakeSlack) -> None:
    await answered_question(app, slack, "what's the VPN host?")
    question_ts = (await app.db.fetchone("SELECT question_ts FROM answers"))["question_ts"]
    reply = slack.add_message(GENERAL, BOB, "It's vpn.internal, port 443.", thread_ts=question_ts)
    await vote(app, user=ALICE, ts=reply, item_user=BOB)
    row = await example(app, reply)
    assert [m["role"] for m in row["conversation"]] == ["system", "user"]
    assert "VPN host" in row["question"] and row["answer"] == "It's vpn.internal, port 443."


async def test_thumbs_up_on_a_thread_root_does_nothing(app: Harness, slack: FakeSlack) -> None:
    root = slack.add_message(GENERAL, ALICE, "A question?")
    slack.add_message(GENERAL, BOB, "An answer.", thread_ts=root)
    await vote(app, user=BOB, ts=root, item_user=ALICE)
    assert await example(app, root) is None
    assert await app.db.fetchval("SELECT count(*) FROM examples") == 0


async def test_thumbs_down_alone_on_a_teammates_reply_creates_nothing(app: Harness, slack: FakeSlack) -> None:
    root = slack.add_message(GENERAL, ALICE, "A question?")
    reply = slack.add_message(GENERAL, BOB, "A bad answer.", thread_ts=root)
    await vote(app, user=ALICE, ts=reply, reaction_name="-1", item_user=BOB)
    assert await example(app, reply) is None
