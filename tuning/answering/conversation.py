"""From a Slack thread to the messages a chat model sees."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tuning.catalogue.entries import ModelFacts, model_facts
from tuning.catalogue.tokens import PER_CONVERSATION, message_tokens, text_counter
from tuning.values import SlackMessage

ChatMessages = list[dict[str, str]]

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def to_chat(system_prompt: str, thread: Sequence[SlackMessage], bot_user_id: str | None) -> ChatMessages:
    """People speak as `user`, this bot (`is_bot`) as `assistant`; the bot's own @mention is dropped."""
    messages: ChatMessages = [{"role": "system", "content": system_prompt}]
    for message in thread:
        text = strip_bot_mention(message.text, bot_user_id).strip()
        if not text:
            continue
        messages.append({"role": "assistant" if message.is_bot else "user", "content": text})
    return messages


def strip_bot_mention(text: str, bot_user_id: str | None) -> str:
    if not bot_user_id:
        return text
    return _MENTION.sub(lambda m: "" if m.group(1) == bot_user_id else m.group(0), text)


def fit_to_context(
    model: str, messages: ChatMessages, *, reserve_for_answer: int | None = None, facts: ModelFacts | None = None
) -> ChatMessages:
    """Drop the oldest turns (never the system prompt or the newest turn) until the prompt fits. `facts`: the
    model's entry in the process's catalogue (the operator's override included); the packaged one otherwise."""
    info = facts or model_facts(model)
    budget = info.context_window - (reserve_for_answer if reserve_for_answer is not None else info.max_output_tokens)
    count = text_counter(info.tokenizer)
    system, turns = messages[:1], messages[1:]
    costs = [message_tokens(count, message) for message in turns]
    used = PER_CONVERSATION + message_tokens(count, system[0]) + sum(costs)
    first = 0
    while used > budget and first < len(turns) - 1:
        used -= costs[first]
        first += 1
    return system + turns[first:]
