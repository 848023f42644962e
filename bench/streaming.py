"""Benchmark: how soon an answer shows in Slack, streamed vs placeholder-and-edit, side by side in one run.

    python bench/streaming.py                       # 5 questions per way, 120-word answers at 50 tokens/s
    python bench/streaming.py --questions 10 --words 200 --tokens-per-second 30
    python bench/streaming.py --burst 30            # 30 questions at once: this tree beside --baseline's

`--burst N` asks N questions at once in one channel of a fake Slack that enforces the published rate tiers
(bot/fakes/slack_limits.py: chat.startStream / stopStream Tier 2, appendStream Tier 4, per workspace) and
reports answers lost (not answered exactly once), answers left streaming, appends per answer, 429s and
first-text latency, for this tree and for `--baseline` (a git ref, default the tree before the rate budget;
it runs with this tree's fakes and bench), each in a subprocess of its own.

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
import logging
import shutil
import statistics
import subprocess
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
BASELINE = "60998f6"  # main before the stream budget (issue 26)


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


def bench_settings(slack: Any, oai: Any, folder: Path) -> Any:
    """The app as the bench serves it: the loopback fakes, a fresh database in `folder`."""
    from bot.settings import Settings

    return Settings(
        _env_file=None,
        SLACK_BOT_TOKEN="xoxb-fake-for-the-bench",
        SLACK_SIGNING_SECRET=SECRET,
        OPENAI_API_KEY="sk-fake-for-the-bench",
        SLACK_API_URL=slack.api_url,
        OPENAI_BASE_URL=oai.base_url,
        TUNELOOP_DB=str(folder / "bench.db"),
        TUNELOOP_MODEL="gpt-4.1-mini",
    )


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
    calls = [
        (at, method)
        for at, method, args in slack.timeline
        if args.get("channel") == channel
        and at >= sent
        and shows_text(method, args)
        and (method == "chat.startStream" and args.get("thread_ts") == question_ts or args.get("ts") == answer_ts)
    ]
    return calls[0][0] - sent, calls[-1][0] - sent


async def run(questions: int, words: int, tokens_per_second: float) -> dict[str, list[tuple[float, float]]]:
    from bot.fakes import FakeOpenAI
    from bot.runtime import Runtime
    from bot.server import EVENTS_PATH, http_server

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
            settings = bench_settings(slack, oai, Path(tmp))
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


async def burst(questions: int, words: int, tokens_per_second: float) -> dict[str, Any]:
    """`questions` asked at once against the published tiers: what Slack ends up showing."""
    from bot.fakes import FakeOpenAI
    from bot.runtime import Runtime
    from bot.server import EVENTS_PATH, http_server

    answer = " ".join(f"word{i}" for i in range(words))
    with tempfile.TemporaryDirectory() as tmp:
        async with fake_slack_with_times() as slack, FakeOpenAI() as oai:
            slack.add_user(ASKER, "asker")
            slack.add_channel(STREAMED, "streamed")
            oai.reply_with(answer)
            oai.token_seconds = 1.0 / tokens_per_second
            settings = bench_settings(slack, oai, Path(tmp))
            runtime = await Runtime.start(settings)
            started = time.monotonic()
            try:
                async with http_server(runtime, "127.0.0.1", 0) as port, aiohttp.ClientSession() as session:
                    url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
                    asked = await asyncio.gather(*(ask(session, url, slack, STREAMED, n) for n in range(questions)))
                    done = await asyncio.gather(
                        *(answered(slack, STREAMED, ts, timeout=600) for ts, _ in asked), return_exceptions=True
                    )
                    await asyncio.sleep(1.0)  # a late call (a retried append) would still count
            finally:
                await runtime.close()
            elapsed = time.monotonic() - started
            answers = [slack.thread(STREAMED, ts)[1:] for ts, _ in asked]
            once = [len(replies) == 1 and replies[0]["text"] == answer for replies in answers]
            first = [first_text(slack, ts, sent, replies) for (ts, sent), replies in zip(asked, answers, strict=True)]
            streamed = {
                a["ts"]
                for a in (r[0] for r in answers if r)
                if any(c.args.get("ts") == a["ts"] for c in slack.calls_to("chat.stopStream"))
            }
    return {
        "questions": questions,
        "lost": once.count(False),
        "timed_out": sum(isinstance(d, Exception) for d in done),
        "left_streaming": len(slack.still_streaming()),
        "streamed": len(streamed),
        "appends": len(slack.calls_to("chat.appendStream")),
        "limited": slack.rate_tiers.limited,
        "first_text": sorted(f for f in first if f is not None),
        "seconds": elapsed,
    }


def first_text(slack: Any, question_ts: str, sent: float, replies: list[dict[str, Any]]) -> float | None:
    if not replies:
        return None
    answer_ts = replies[0]["ts"]
    calls = [
        at
        for at, method, args in slack.timeline
        if at >= sent
        and shows_text(method, args)
        and (method == "chat.startStream" and args.get("thread_ts") == question_ts or args.get("ts") == answer_ts)
    ]
    return calls[0] - sent if calls else None


def burst_side_by_side(questions: int, words: int, tokens_per_second: float, baseline: str) -> None:
    here = Path(__file__).resolve().parents[1]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "baseline"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(here), "archive", baseline], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
        # The same Slack for both: this tree's fakes (bot/fakes imports nothing of Tuneloop) in the old tree too.
        shutil.rmtree(old / "bot" / "fakes", ignore_errors=True)
        shutil.copytree(here / "bot" / "fakes", old / "bot" / "fakes")
        shutil.copy(here / "bench" / "streaming.py", old / "bench" / "streaming.py")
        for name, tree in ((f"baseline ({baseline})", old), ("this tree", here)):

            def run_json(*flags: str, tree: Path = tree) -> Any:
                out = subprocess.run(
                    [
                        sys.executable,
                        str(tree / "bench" / "streaming.py"),
                        *flags,
                        "--words",
                        str(words),
                        "--tokens-per-second",
                        str(tokens_per_second),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=tree,
                )
                return json.loads(out.stdout.strip().splitlines()[-1])

            rows[name] = run_json("--burst-only", str(questions))
            rows[name]["alone"] = run_json("--alone-only", "5")  # one question at a time: first text, median
    print(
        f"{questions} questions at once, {words}-word answers at {tokens_per_second:g} tokens/s, against Slack's"
        " published tiers (startStream/stopStream 20/min, appendStream 100/min per workspace)"
    )
    print(
        f"{'tree':<28}{'lost':>6}{'left streaming':>16}{'streamed':>10}{'appends/answer':>16}{'429s':>6}"
        f"{'first text p50':>16}{'p90':>8}{'all done':>10}{'first text, one at a time':>28}"
    )
    for name, r in rows.items():
        per = r["appends"] / max(1, r["streamed"])
        f = r["first_text"]
        p50, p90 = (statistics.median(f), f[int(0.9 * (len(f) - 1))]) if f else (float("nan"),) * 2
        print(
            f"{name:<28}{r['lost']:>6}{r['left_streaming']:>16}{r['streamed']:>10}{per:>16.1f}"
            f"{sum(r['limited'].values()):>6}{p50:>15.2f}s{p90:>7.2f}s{r['seconds']:>9.1f}s{r['alone']:>27.3f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--words", type=int, default=120)
    parser.add_argument("--tokens-per-second", type=float, default=50.0)
    parser.add_argument("--burst", type=int, help="ask this many at once, this tree beside --baseline")
    parser.add_argument("--baseline", default=BASELINE, help="git ref of the tree to compare with")
    parser.add_argument("--burst-only", type=int, help=argparse.SUPPRESS)  # one tree, JSON out
    parser.add_argument("--alone-only", type=int, help=argparse.SUPPRESS)  # one tree, JSON out
    args = parser.parse_args()
    if args.alone_only:
        logging.disable(logging.WARNING)
        alone = asyncio.run(run(args.alone_only, args.words, args.tokens_per_second))["streaming"]
        print(json.dumps(statistics.median(first for first, _ in alone)))
        return
    if args.burst_only:
        logging.disable(logging.WARNING)
        print(json.dumps(asyncio.run(burst(args.burst_only, args.words, args.tokens_per_second))))
        return
    if args.burst:
        burst_side_by_side(args.burst, args.words, args.tokens_per_second, args.baseline)
        return
    results = asyncio.run(run(args.questions, args.words, args.tokens_per_second))
    medians = {
        way: (statistics.median(f for f, _ in rows), statistics.median(t for _, t in rows))
        for way, rows in results.items()
    }
    print(f"{args.questions} questions per way, {args.words}-word answers at {args.tokens_per_second:g} tokens/s")
    print(f"{'way':<22}{'first text (median s)':>24}{'final text (median s)':>24}")
    for way, (first, final) in medians.items():
        print(f"{way:<22}{first:>24.3f}{final:>24.3f}")
    streamed, edited = medians["streaming"], medians["placeholder-and-edit"]
    print(
        f"first text: streaming takes {streamed[0] / edited[0]:.3f}× the time of placeholder-and-edit "
        f"({edited[0] / streamed[0]:.1f}× sooner); final text: {streamed[1] / edited[1]:.3f}×"
    )


if __name__ == "__main__":
    main()
