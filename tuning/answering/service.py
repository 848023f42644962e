"""When to answer, what the model sees, and the record of every answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from storage import answers as answer_rows
from storage import lifecycle as lifecycle_rows
from storage import messages as message_rows
from storage import streaming as streaming_rows
from storage.db import Database
from tuning import telemetry
from tuning.answering.conversation import fit_to_context, strip_bot_mention, to_chat
from tuning.answering.memory import ChannelKinds, Memory, Recall, with_memory
from tuning.answering.routing import ModelRouter
from tuning.catalogue.entries import ModelFacts, model_facts
from tuning.errors import ModelError
from tuning.ports import OnText
from tuning.values import AnswerClaim, ChatReply, SlackMessage

log = logging.getLogger(__name__)

ModelFor = Callable[[str, str], Awaitable[str]]  # (channel, thread) -> the model that answers there
Replacement = Callable[[str, ModelError], Awaitable[str | None]]  # a model for one that failed, or None
MAX_FALLBACKS = 3


Explain = Callable[[str], Awaitable[str | None]]


class Answerer:
    def __init__(
        self,
        db: Database,
        chat: ModelRouter,
        *,
        model_for: ModelFor,
        system_prompt: str,
        replacement: Replacement | None = None,
        explain: Explain | None = None,
        memory: Memory | None = None,
        replica: str = "",
        claim_seconds: float = 30.0,
        facts: Callable[[str], ModelFacts] = model_facts,
    ) -> None:
        """`replica` names this process among those sharing the database; its claim on an answer lasts
        `claim_seconds` unless renewed (bot/replicas.py renews them while the process lives). `facts`: a
        model's context window and tokenizer, from the process's catalogue."""
        self._db = db
        self._facts = facts
        self.memory = memory
        self._replica = replica
        self._claim_seconds = claim_seconds
        # Why a model is not answering, when Tuneloop knows (a stopped endpoint) and what to do about it.
        self._explain = explain
        self._chat = chat
        self._model_for = model_for
        self._replacement = replacement
        self._system_prompt = system_prompt
        self._in_flight: set[int] = set()

    async def observe(self, message: SlackMessage) -> None:
        """Keep every channel message: a teammate's reply may later become a training example."""
        if message.is_dm or not message.user:
            return
        await message_rows.save_message(
            self._db,
            channel=message.channel,
            ts=message.ts,
            team_id=message.team_id,
            thread_ts=message.thread_ts,
            user_id=message.user,
            text=message.text,
            is_bot=message.is_bot,
        )

    async def wants(self, message: SlackMessage) -> bool:
        """A mention, a DM, or a message in a thread the bot already answered."""
        if message.is_bot or not message.user or not message.text.strip():
            return False
        if message.is_dm or message.mentions_bot:
            return True
        return message.thread_ts is not None and await answer_rows.thread_is_answered(
            self._db, message.channel, message.thread_ts
        )

    async def is_first_in_thread(self, message: SlackMessage) -> bool:
        """Whether no question was answered in this message's thread before it (a new assistant thread)."""
        return not await answer_rows.answered_before(self._db, message.channel, message.reply_thread, message.ts)

    async def claim(self, message: SlackMessage) -> AnswerClaim | None:
        """The right to answer, once per question, across replicas; a pending answer left by a crash (here, or
        by a replica that died) is resumed once its claim expired, editing what was already posted."""
        model = await self._model_for(message.channel, message.reply_thread)
        now = time.time()
        answer_id = await answer_rows.claim(
            self._db,
            team_id=message.team_id,
            channel=message.channel,
            thread_ts=message.reply_thread,
            question_ts=message.ts,
            asked_by=message.user or "",
            model=model,
            replica=self._replica,
            expires=now + self._claim_seconds,
        )
        if answer_id is not None:
            self._in_flight.add(answer_id)
            return AnswerClaim(answer_id=answer_id, message=message, model=model)
        existing = await answer_rows.take_over(
            self._db, message.channel, message.ts, replica=self._replica, now=now, expires=now + self._claim_seconds
        )
        if existing is None or existing.id in self._in_flight:
            return None
        self._in_flight.add(existing.id)
        lost = existing.answer_ts is None
        others = (
            await answer_rows.first_messages_in_thread(
                self._db, message.channel, message.reply_thread, besides=existing.id
            )
            if lost
            else frozenset()
        )
        return AnswerClaim(
            answer_id=existing.id,
            message=message,
            model=existing.model,
            placeholder_ts=existing.answer_ts,
            lost_first_message=lost,
            other_answers_ts=others,
        )

    async def placeholder_posted(self, claim: AnswerClaim, ts: str) -> None:
        """The first message of the answer exists (a placeholder or a stream): a resumed claim edits it."""
        await answer_rows.set_placeholder(self._db, claim.answer_id, ts)

    async def streams_in(self, channel: str) -> bool:
        """Whether to stream there: yes until Slack refused it in that channel once."""
        return not await streaming_rows.is_refused(self._db, channel)

    async def first_notice(self, key: str) -> bool:
        """True the first time `key` is noticed, by any replica (the key is kept in the database)."""
        return await lifecycle_rows.claim_notice(self._db, key)

    async def streaming_refused(self, channel: str, error: str) -> None:
        log.info("Slack refused streaming in %s (%s): answering by placeholder and edit there", channel, error)
        await streaming_rows.refuse(self._db, channel, error)

    async def recall(self, claim: AnswerClaim, kinds: ChannelKinds, bot_user_id: str | None) -> Recall:
        """The team's approved answers closest to this question that may be shown where it was asked."""
        message = claim.message
        if self.memory is None:
            return Recall()
        with telemetry.retrieval_span(source="team_memory") as span:
            kind = await self.memory.kind(message.channel, kinds)
            recall = await self.memory.recall(
                strip_bot_mention(message.text, bot_user_id).strip(), message.channel, kind
            )
            telemetry.retrieval_result(span, [hit.example_id for hit in recall.hits])
        return recall

    async def generate(
        self,
        claim: AnswerClaim,
        thread: Sequence[SlackMessage],
        bot_user_id: str | None,
        on_text: OnText | None = None,
        recall: Recall = Recall(),
    ) -> ChatReply:
        """Ask the model (or its fallback, when it is gone), streaming its text to `on_text` if given; a failure is
        recorded and raised as ModelError. `recall`'s memories are quoted in the system prompt; the record keeps
        the conversation without them, and lists them by reference (answer_memory)."""
        model, fallbacks = claim.model, 0
        while True:
            sent = fit_to_context(
                model, to_chat(with_memory(self._system_prompt, recall), thread, bot_user_id), facts=self._facts(model)
            )
            messages = [{"role": "system", "content": self._system_prompt}, *sent[1:]]
            try:
                if on_text is not None:
                    reply = await self._chat.stream(model, sent, on_text)
                else:
                    reply = await self._chat.complete(model, sent)
                return reply.model_copy(update={"request_messages": messages})
            except ModelError as error:
                replace = self._replacement if fallbacks < MAX_FALLBACKS else None
                replacement = await replace(model, error) if replace else None
                if replacement is None or replacement == model:
                    explained = await self._explained(model, error)
                    if self.memory is not None:
                        await self.memory.record(claim.answer_id, recall)
                    await self._failed(claim, messages, explained)
                    if explained is error:
                        raise
                    raise explained from error.__cause__
                fallbacks += 1
                await lifecycle_rows.set_answer_model(self._db, claim.answer_id, replacement)
                model = replacement

    async def _failed(self, claim: AnswerClaim, messages: list[dict[str, str]], error: ModelError) -> None:
        log.warning("answer %s failed: %s", claim.answer_id, error, exc_info=error.__cause__)
        await answer_rows.fail(
            self._db,
            claim.answer_id,
            request_messages=messages,
            error=repr(error.__cause__ or error),
            latency_ms=0,
            trace=_trace_ids(),
        )
        self._in_flight.discard(claim.answer_id)

    async def _explained(self, model: str, error: ModelError) -> ModelError:
        """Why the model is not answering, when Tuneloop knows (a stopped endpoint) and what to do about it."""
        note = await self._explain(model) if self._explain is not None else None
        return ModelError(f"{error} {note}") if note else error

    async def abandon(self, claim: AnswerClaim, reason: str) -> None:
        """Record an answer that cannot be given for a reason other than the model (e.g. the thread is gone)."""
        log.warning("answer %s abandoned: %s", claim.answer_id, reason)
        await answer_rows.fail(
            self._db, claim.answer_id, request_messages=None, error=reason, latency_ms=0, trace=_trace_ids()
        )
        self._in_flight.discard(claim.answer_id)

    async def posted(
        self,
        claim: AnswerClaim,
        reply: ChatReply,
        part_ts: list[str],
        bot_user_id: str | None,
        recall: Recall = Recall(),
    ) -> None:
        if self.memory is not None:
            await self.memory.record(claim.answer_id, recall)
        await answer_rows.complete(
            self._db,
            claim.answer_id,
            request_messages=reply.request_messages,
            text=reply.text,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            latency_ms=reply.latency_ms,
            part_ts=part_ts,
            bot_user_id=bot_user_id,
            trace=_trace_ids(),
        )
        self._in_flight.discard(claim.answer_id)

    def release(self, claim: AnswerClaim) -> None:
        """Forget an interrupted claim so a replay of its event can resume it."""
        self._in_flight.discard(claim.answer_id)


def _trace_ids() -> answer_rows.TraceIds | None:
    """The answer's span, when tracing is on: stored so that feedback given later joins its trace."""
    ref = telemetry.current_ref()
    return answer_rows.TraceIds(ref.trace_id, ref.span_id) if ref else None
