from pathlib import Path

from tuning.answering.conversation import fit_to_context, to_chat
from tuning.catalogue.entries import load_catalogue
from tuning.catalogue.tokens import count_messages, count_text
from tuning.values import SlackMessage


def msg(ts: str, text: str, *, bot: bool = False, user: str = "U1") -> SlackMessage:
    return SlackMessage(channel="C1", ts=ts, user="UBOT" if bot else user, text=text, is_bot=bot)


def test_people_are_users_and_the_bot_is_the_assistant() -> None:
    thread = [
        msg("1.0", "<@UBOT> how do I reset it?"),
        msg("2.0", "Hold the button.", bot=True),
        msg("3.0", "thanks, <@U2>?"),
    ]
    assert to_chat("SYS", thread, "UBOT") == [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "how do I reset it?"},
        {"role": "assistant", "content": "Hold the button."},
        {"role": "user", "content": "thanks, <@U2>?"},
    ]


def test_token_counts_match_reference_values() -> None:
    # Reference ids from OpenAI's tiktoken: cl100k "hello world" = [15339, 1917]; o200k = [24912, 2375].
    assert count_text("gpt-3.5-turbo", "hello world") == 2
    assert count_text("gpt-4o-mini", "hello world") == 2
    # 3 per message + content, 3 per conversation.
    assert count_messages("gpt-4o-mini", [{"role": "user", "content": "hello world"}]) == 8
    assert count_messages("gpt-4o-mini", [{"role": "user", "content": "hello world", "name": "ada"}]) == 9


def test_trimming_drops_oldest_turns_but_keeps_system_and_newest() -> None:
    long = "word " * 3000
    messages = [{"role": "system", "content": "SYS"}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i} {long}"} for i in range(12)
    ]
    trimmed = fit_to_context("gpt-4", messages, reserve_for_answer=1000)  # gpt-4: 8,192 tokens
    assert trimmed[0] == messages[0]
    assert trimmed[-1] == messages[-1]
    assert len(trimmed) < len(messages)
    assert count_messages("gpt-4", trimmed) <= 8192 - 1000
    assert trimmed[1:] == messages[len(messages) - len(trimmed) + 1 :]


def test_a_short_thread_is_untouched() -> None:
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
    assert fit_to_context("gpt-4o-mini", messages) == messages


def test_the_operators_catalogue_sets_the_context_the_answer_path_fits(tmp_path: Path) -> None:
    """A models.toml entry's context window is what the answer path fits to, not the packaged one's."""
    (tmp_path / "models.toml").write_text(
        '[models."acme-small"]\nprovider = "openai"\ncontext_window = 600\nmax_output_tokens = 100\n'
    )
    facts = load_catalogue(tmp_path).facts("acme-small")
    messages = [{"role": "system", "content": "S"}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": "word " * 100} for i in range(9)
    ]
    assert fit_to_context("acme-small", messages) == messages  # the packaged fallback's window is far larger
    trimmed = fit_to_context("acme-small", messages, facts=facts)
    assert trimmed[-1] == messages[-1] and len(trimmed) < len(messages)
    assert count_messages("gpt-4o-mini", trimmed) <= 600 - 100
