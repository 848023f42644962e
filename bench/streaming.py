"""Benchmark: how soon an answer shows in Slack, streamed vs placeholder-and-edit, side by side in one run.

    python bench/streaming.py                       # 5 questions per way, 120-word answers at 50 tokens/s
    python bench/streaming.py --questions 10 --words 200 --tokens-per-second 30

The real runtime, served over HTTP as `tuneloop serve --http` serves it, against the loopback fakes: the
fake OpenAI streams each answer one word (token) at a time at a fixed rate; the fake Slack accepts
streams in one channel and refuses them in another (a workspace or surface without streaming), where
Tuneloop posts a placeholder and edits it. For each question: the time from sending the signed
`app_mention` to the first call that puts answer text in Slack (chat.startStream or appendStream with
text; chat.update of the placeholder) and to the call that completes it (chat.stopStream; the last
chat.update). Questions alternate between the two channels; medians are printed with their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SECRET = "bench-signing-secret"
BOT, ASKER = "U0BOT", "U0ASKER"
STREAMED, EDITED = "C0STREAM", "C0EDIT"


def fake_slack_with_times() -> Any:
    from aiohttp import web

    from bot.fakes import FakeSlack

    class TimedSlack(FakeSlack):
        """Records when each Web API call arrived: (monotonic time, method, args)."""

        def __init__(self) -> None:
            super().__init__()
            self.timeline: list[tuple[float, str, dict[str, Any]]] = []

        async def _api(self, request: web.Request) -> web.Response:
            response = await super()._api(request)
            self.timeline.append((time.monotonic(), request.match_info["method"], self.calls[-1].args))
            return response

    return TimedSlack()


def shows_text(method: str, args: dict[str, Any]) -> bool:
    if method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
        return bool(args.get("markdown_text")) or any(c.get("text") for c in args.get("chunks") or [])
    return method == "chat.update"


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": "application/json"}


async def ask(session: aiohttp.ClientSession, url: str, slack: Any, channel: str, n: int) -> tuple[str, float]:
    text = f"<@{BOT}> question {n}: how do I reset the router?"
    ts = slack.add_message(channel, ASKER, text)
    event = {"type": "app_mention", "user": ASKER, "text": text, "ts": ts, "channel": channel}
    body = json.dumps(slack.event_callback(event))
    sent = time.monotonic()
    async with session.post(url, data=body, headers=signed(body)) as response:
        assert response.status == 200, response.status
    return ts, sent


async def answered(slack: Any, channel: str, question_ts: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = slack.thread(channel, question_ts)[1:]
        if replies and replies[-1].get("blocks") and "context_actions" in json.dumps(replies[-1]["blocks"]):
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no answer to {question_ts} in {channel}")


def times(slack: Any, channel: str, question_ts: str, sent: float) -> tuple[float, float]:
    """Seconds from sending the event to the first answer text in Slack, and to the last."""
    answer_ts = slack.thread(channel, question_ts)[1]["ts"]
    calls = [(at, method) for at, method, args in slack.timeline
             if args.get("channel") == channel and at >= sent and shows_text(method, args)
             and (method == "chat.startStream" and args.get("thread_ts") == question_ts or args.get("ts") == answer_ts)]
    return calls[0][0] - sent, calls[-1][0] - sent


async def run(questions: int, words: int, tokens_per_second: float) -> dict[str, list[tuple[float, float]]]:
    from bot.runtime import Runtime
    from bot.server import EVENTS_PATH, http_server
    from bot.settings import Settings
    from bot.fakes import FakeOpenAI

    answer = " ".join(f"word{i}" for i in range(words))
    results: dict[str, list[tuple[float, float]]] = {"streaming": [], "placeholder-and-edit": []}
    with tempfile.TemporaryDirectory() as tmp:
        async with fake_slack_with_times() as slack, FakeOpenAI() as oai:
            slack.add_user(ASKER, "asker")
            slack.add_channel(STREAMED, "streamed")
            slack.add_channel(EDITED, "edited")
            slack.refuse_streaming(EDITED)
            oai.reply_with(answer)
            oai.token_seconds = 1.0 / tokens_per_second
            settings = Settings(_env_file=None, SLACK_BOT_TOKEN="xoxb-fake-for-the-bench", SLACK_SIGNING_SECRET=SECRET,
                                OPENAI_API_KEY="sk-fake-for-the-bench", SLACK_API_URL=slack.api_url,
                                OPENAI_BASE_URL=oai.base_url, TUNELOOP_DB=str(Path(tmp) / "bench.db"),
                                TUNELOOP_MODEL="gpt-4.1-mini")
            runtime = await Runtime.start(settings)
            try:
                async with http_server(runtime, "127.0.0.1", 0) as port, aiohttp.ClientSession() as session:
                    url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
                    for warm_up in (STREAMED, EDITED):  # the refusal is met (and remembered) here
                        ts, _ = await ask(session, url, slack, warm_up, 0)
                        await answered(slack, warm_up, ts)
                    for n in range(1, questions + 1):
                        for way, channel in (("streaming", STREAMED), ("placeholder-and-edit", EDITED)):
                            ts, sent = await ask(session, url, slack, channel, n)
                            await answered(slack, channel, ts)
                            results[way].append(times(slack, channel, ts, sent))
            finally:
                await runtime.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--words", type=int, default=120)
    parser.add_argument("--tokens-per-second", type=float, default=50.0)
    args = parser.parse_args()
    results = asyncio.run(run(args.questions, args.words, args.tokens_per_second))
    medians = {way: (statistics.median(f for f, _ in rows), statistics.median(t for _, t in rows))
               for way, rows in results.items()}
    print(f"{args.questions} questions per way, {args.words}-word answers at {args.tokens_per_second:g} tokens/s")
    print(f"{'way':<22}{'first text (median s)':>24}{'final text (median s)':>24}")
    for way, (first, final) in medians.items():
        print(f"{way:<22}{first:>24.3f}{final:>24.3f}")
    streamed, edited = medians["streaming"], medians["placeholder-and-edit"]
    print(f"first text: streaming takes {streamed[0] / edited[0]:.3f}× the time of placeholder-and-edit "
          f"({edited[0] / streamed[0]:.1f}× sooner); final text: {streamed[1] / edited[1]:.3f}×")


if __name__ == "__main__":
    main()
