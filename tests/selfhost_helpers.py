"""A tiny causal LM built in code (random weights, a tokenizer trained on the fly) and datasets for it.

Nothing comes from a model hub: the model is a two-layer Llama with hidden size 64 (about 100k
parameters), saved to a temporary folder once per test session. Its tokenizer carries a real model's chat
template, verbatim (tests/data/chat_templates, sources in SOURCES.md): SmolLM2-Instruct's unless a test asks
for another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import until

TEMPLATES = Path(__file__).resolve().parent / "data" / "chat_templates"
# The catalogue's self-hosted bases and the template file each ships (tests/data/chat_templates/SOURCES.md).
BASE_TEMPLATES = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": "smollm2",
    "HuggingFaceTB/SmolLM2-360M-Instruct": "smollm2",
    "Qwen/Qwen2.5-0.5B-Instruct": "qwen2_5",
    "Qwen/Qwen2.5-1.5B-Instruct": "qwen2_5",
    "meta-llama/Llama-3.2-1B-Instruct": "llama3_2",
    "meta-llama/Llama-3.1-8B-Instruct": "llama3_1",
}
# Each family's special tokens: (bos, end of an assistant turn); the pad token is our own.
FAMILY_TOKENS = {
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "qwen2_5": ("<|im_start|>", "<|im_end|>"),
    "llama3_2": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama3_1": ("<|begin_of_text|>", "<|eot_id|>"),
    "deepseek_r1_distill": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
}
SPECIAL = [
    "<pad>",
    "<|im_start|>",
    "<|im_end|>",
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "<｜User｜>",
    "<｜Assistant｜>",
]


def chat_template(family: str) -> str:
    return (TEMPLATES / f"{family}.jinja").read_text(encoding="utf-8")


QUESTIONS = [
    ("How do I reset my password?", "Open settings, choose security, then reset password."),
    ("Where is the deploy guide?", "The deploy guide is in the wiki under operations."),
    ("Who owns the billing service?", "The payments team owns the billing service."),
    ("How do I request a laptop?", "File a ticket in the IT portal and pick laptop."),
    ("When is the release freeze?", "The release freeze starts every second Thursday."),
    ("How do I join the on-call rota?", "Ask your manager to add you to the on-call rota."),
]
SYSTEM = "You are a helpful team assistant."


def build_tiny_model(folder: Path, family: str = "smollm2") -> Path:
    """Save a tiny Llama and its tokenizer (with `family`'s real chat template) to `folder`; return it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token=None))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    corpus = [text for pair in QUESTIONS for text in pair] + [SYSTEM, "system user assistant"]
    raw.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    bos, eos = FAMILY_TOKENS[family]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token=eos, pad_token="<pad>", bos_token=bos)
    tokenizer.chat_template = chat_template(family)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=True,
    )
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def sft_lines(count: int) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
        }
        for question, answer in _cycle(count)
    ]


def dpo_lines(count: int) -> list[dict[str, Any]]:
    return [
        {
            "input": {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]},
            "preferred_output": [{"role": "assistant", "content": answer}],
            "non_preferred_output": [{"role": "assistant", "content": "I do not know."}],
        }
        for question, answer in _cycle(count)
    ]


def kto_lines(count: int) -> list[dict[str, Any]]:
    """The agreed KTO file: alternately a desirable (the team's) and an undesirable answer."""
    return [
        {
            "prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
            "completion": [{"role": "assistant", "content": answer if index % 2 == 0 else "I do not know."}],
            "label": index % 2 == 0,
        }
        for index, (question, answer) in enumerate(_cycle(count))
    ]


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _cycle(count: int) -> list[tuple[str, str]]:
    return [QUESTIONS[index % len(QUESTIONS)] for index in range(count)]


# --- running the training program and the model server as separate processes -------------------------

ROOT = Path(__file__).resolve().parent.parent


def offline_env() -> dict[str, str]:
    """The environment for a child process: this checkout first on the path, nothing from a model hub."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
    )
    return env


def train_command(model: Path, train: Path, out: Path, *extra: str, method: str = "sft") -> list[str]:
    return [
        sys.executable,
        "-m",
        "selfhost.train",
        "--base-model",
        str(model),
        "--method",
        method,
        "--train-file",
        str(train),
        "--output-dir",
        str(out),
        "--batch-size",
        "2",
        "--max-length",
        "96",
        "--lora-r",
        "4",
        "--lora-alpha",
        "8",
        *extra,
    ]


def run_training(command: list[str]) -> tuple[int, list[dict[str, Any]], str]:
    """Exit code, the JSON lines printed on stdout (every stdout line must be one), stderr."""
    done = subprocess.run(command, capture_output=True, text=True, env=offline_env(), timeout=600, check=False)
    lines = [json.loads(text) for text in done.stdout.splitlines() if text.strip()]
    return done.returncode, lines, done.stderr


@dataclass(frozen=True)
class TrainedRun:
    model: Path
    out: Path
    train: Path
    validation: Path
    code: int
    lines: list[dict[str, Any]]
    stderr: str

    @property
    def adapter(self) -> Path:
        return self.out / "adapter"


@pytest.fixture
def fast_cards_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Job cards update on every tick, and training processes reach no model hub (use with autouse)."""
    from tuning.training.jobs import monitor

    monkeypatch.setattr(monitor, "CARD_INTERVAL_SECONDS", 0.0)
    for key, value in offline_env().items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def sft_run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """One real SFT run (3 steps, validation file given), shared by the tests that need an adapter."""
    folder = tmp_path_factory.mktemp("sft-run")
    train = write_jsonl(folder / "train.jsonl", sft_lines(6))
    validation = write_jsonl(folder / "validation.jsonl", sft_lines(2))
    command = train_command(
        tiny_model,
        train,
        folder / "out",
        "--validation-file",
        str(validation),
        "--epochs",
        "1",
        "--job-id",
        "tl-sft-1",
        "--dataset",
        "faq@2",
    )
    code, lines, stderr = run_training(command)
    return TrainedRun(tiny_model, folder / "out", train, validation, code, lines, stderr)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


class ModelServer:
    """`python -m bot serve-model --model MODEL` in its own process, on one port across restarts."""

    def __init__(self, model: Path) -> None:
        self.model = model
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        process = self._process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve-model", "--model", str(self.model), "--port", str(self.port)],
            cwd=ROOT,
            env=offline_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        until(
            lambda: answers(f"http://127.0.0.1:{self.port}/health"),
            timeout=120,
            interval=0.1,
            what="serve-model answering",
            give_up=lambda: process.poll() is not None,
            detail=lambda: process.stderr.read()[-2000:] if process.poll() is not None and process.stderr else "",
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
            self._process = None

    def restart(self) -> None:
        """As a redeploy does: the new process has loaded no adapter."""
        self.stop()
        self.start()


@contextmanager
def model_server(model: Path) -> Iterator[str]:
    """A ModelServer for the duration; yields its /v1 base URL."""
    server = ModelServer(model)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
