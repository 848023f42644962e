"""Benchmark: evaluate 400 items against FakeOpenAI with a fixed latency per chat call.

    python bench/eval.py                      # 400 items, 200 ms, concurrency 8, candidate + baseline + judge
    python bench/eval.py --mode base          # the candidate alone: one call per item
    python bench/eval.py --fake inline        # the fake in the evaluation's own event loop
    python bench/eval.py --fake stub          # no HTTP at all: a client that sleeps, to isolate scheduling
    python bench/eval.py --items 100 --latency 0.05 --concurrency 4

Ideal: every call, candidate, baseline and judge alike, shares one limit, so the ideal wall time is
(chat calls actually made, as the fake recorded them) × latency / concurrency. Compare mode makes 4
calls an item (candidate, baseline, the judge in both orders), base mode 1. The per-item ideal is
that bound divided by the items. Target: within 1.1× of ideal.

By default the fake serves from its own process, as a real API would: in the same event loop its
CPU time is charged to the evaluation, and because every call takes exactly the
same latency, the 8 calls of a round finish together and queue behind each other's CPU work.
`--fake inline` measures that too; `--fake stub` leaves out the SDK and HTTP entirely, so what remains
is the runner's own scheduling. Timing starts after one warm-up call (the SDK imports lazily).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.fakes import FakeOpenAI  # noqa: E402
from providers.chat import ChatClient, eval_openai_client  # noqa: E402
from tuning.release.evaluation import ChatLike, EvalItem, EvalSummary, evaluate  # noqa: E402
from tuning.values import ChatReply  # noqa: E402

CANDIDATE = "ft:gpt-4.1-mini-2025-04-14:acme:tuneloop:bench"
BASELINE = "gpt-4.1-mini-2025-04-14"
JUDGE = "gpt-4.1"
CHAT = "POST /v1/chat/completions"
TARGET = 1.1


def items(n: int) -> list[EvalItem]:
    return [
        EvalItem(
            id=f"item-{i}",
            messages=[
                {"role": "system", "content": "You are Tuneloop, a helpful assistant."},
                {
                    "role": "user",
                    "content": f"How do I restart the deploy worker on cluster {i % 17} after a config change?",
                },
            ],
            reference=f"Run `kubectl rollout restart deploy/worker -n c{i % 17}` and watch the pods come back.",
        )
        for i in range(n)
    ]


def reply(request: dict[str, Any]) -> str:
    if request["model"] == JUDGE:
        answer_a = request["messages"][-1]["content"].split("<answer_a>")[1].split("</answer_a>")[0]
        return "A" if "kubectl" in answer_a else "B"  # a consistent judge: it prefers the candidate
    if request["model"] == CANDIDATE:
        return "Run kubectl rollout restart on the worker deployment and watch the pods."
    return "Restart the worker from the dashboard."


def scripted_fake(latency: float) -> FakeOpenAI:
    fake = FakeOpenAI()
    fake.add_model(CANDIDATE)
    fake.latency = latency
    fake.reply_with(reply)
    return fake


# -- the fake in its own process ----------------------------------------------------------------


def _serve(conn: Connection, latency: float) -> None:
    asyncio.run(_serve_until_asked(conn, latency))


async def _serve_until_asked(conn: Connection, latency: float) -> None:
    async with scripted_fake(latency) as fake:
        conn.send(fake.base_url)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "count"
        conn.send((len(fake.calls_to(CHAT)), fake.max_concurrent_chat))


class FakeProcess:
    def __init__(self, latency: float) -> None:
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child, latency), daemon=True)
        self._process.start()
        self.base_url: str = self._conn.recv()

    async def counts(self) -> tuple[int, int]:
        """(chat calls, peak concurrent chat calls) so far; the fake stops after answering."""
        self._conn.send("count")
        counts = await asyncio.get_running_loop().run_in_executor(None, self._conn.recv)
        self._process.join(timeout=10)
        return counts


class FakeInline:
    def __init__(self, fake: FakeOpenAI) -> None:
        self._fake = fake
        self.base_url = fake.base_url

    async def counts(self) -> tuple[int, int]:
        return len(self._fake.calls_to(CHAT)), self._fake.max_concurrent_chat


class SleepingClient:
    """A ChatClient stand-in without HTTP: counts calls and the peak in flight, answers after `latency`."""

    def __init__(self, latency: float) -> None:
        self.latency, self.calls, self.in_flight, self.peak = latency, 0, 0, 0

    async def complete(self, model: str, messages: list[dict[str, str]], *, max_tokens: int | None = None) -> ChatReply:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(self.latency)
        self.in_flight -= 1
        text = reply({"model": model, "messages": messages})
        return ChatReply(
            text=text,
            model=model,
            latency_ms=round(self.latency * 1000),
            request_messages=messages,
            prompt_tokens=30,
            completion_tokens=len(text.split()),
        )

    async def counts(self) -> tuple[int, int]:
        return self.calls, self.peak


# -- the measurement ---------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, fake: FakeProcess | FakeInline | SleepingClient) -> float:
    if isinstance(fake, SleepingClient):
        return await timed(args, fake, fake)
    # Not strict validation: the bench measures the client as production builds it.
    async with eval_openai_client(api_key="sk-bench", base_url=fake.base_url) as llm:
        return await timed(args, ChatClient(llm), fake)


async def timed(args: argparse.Namespace, client: ChatLike, fake: FakeProcess | FakeInline | SleepingClient) -> float:
    await client.complete(BASELINE, [{"role": "user", "content": "warm-up"}])
    compare = args.mode == "compare"
    started = time.perf_counter()
    result = await evaluate(
        items(args.items),
        candidate=CANDIDATE,
        baseline=BASELINE if compare else None,
        judge_model=JUDGE if compare else None,
        clients={CANDIDATE: client, BASELINE: client, JUDGE: client},
        concurrency=args.concurrency,
    )
    wall = time.perf_counter() - started
    calls, peak = await fake.counts()
    return report(args, result.summary, wall, calls - 1, peak)  # minus the warm-up call


def report(args: argparse.Namespace, summary: EvalSummary, wall: float, calls: int, peak: int) -> float:
    ideal = calls * args.latency / args.concurrency
    p50, p95 = summary.candidate.latency_p50_ms, summary.candidate.latency_p95_ms
    print(
        f"mode {args.mode}, fake {args.fake}: {args.items} items, {calls} chat calls ({calls / args.items:g} an item), "
        f"latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency} (peak in flight {peak})"
    )
    print(f"  wall {wall:.2f} s; ideal = calls × latency / concurrency = {ideal:.2f} s → {wall / ideal:.3f}× ideal")
    print(
        f"  per item {wall / args.items * 1000:.1f} ms, ideal {ideal / args.items * 1000:.1f} ms; "
        f"candidate latency seen by the client p50 {p50:.0f} ms, p95 {p95:.0f} ms"
    )
    print(f"  failed items {summary.failed_items}; {summary.headline().text}")
    return wall / ideal


async def run_inline(args: argparse.Namespace) -> float:
    async with scripted_fake(args.latency) as fake:
        return await measure(args, FakeInline(fake))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--mode", choices=["compare", "base"], default="compare")
    parser.add_argument("--fake", choices=["process", "inline", "stub"], default="process")
    args = parser.parse_args()
    if args.fake == "inline":
        ratio = asyncio.run(run_inline(args))
    elif args.fake == "stub":
        ratio = asyncio.run(measure(args, SleepingClient(args.latency)))
    else:
        ratio = asyncio.run(measure(args, FakeProcess(args.latency)))
    print(f"  {'OK' if ratio <= TARGET else 'SLOW'}: target ≤ {TARGET}× ideal")
    sys.exit(0 if ratio <= TARGET else 1)


if __name__ == "__main__":
    main()
