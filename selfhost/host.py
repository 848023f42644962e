"""A base model plus LoRA adapters loaded at run time, answering chat messages.

Generation runs in a worker thread, one request at a time (a CPU box has no spare cores to share);
the aiohttp server in `serve` never blocks its event loop on torch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TextIteratorStreamer

from selfhost.modeling import Device, ModelError, load_base


@dataclass(frozen=True)
class Sampling:
    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class Answer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class AdapterError(ValueError):
    """An adapter that cannot be loaded or unloaded. `not_found` maps to HTTP 404, the rest to 400."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


class ModelHost:
    def __init__(self, base_model: str, device: Device) -> None:
        self.base_name = base_model
        self.base, self.tokenizer = load_base(base_model, device)
        self.base.eval()
        self.model: Any = self.base
        self.adapters: dict[str, str] = {}

    def load_adapter(self, name: str, path: str) -> None:
        from peft import PeftModel

        if not (Path(path) / "adapter_config.json").is_file():
            raise AdapterError(f"No adapter found at '{path}' (it needs adapter_config.json).", not_found=True)
        try:
            if self.adapters:
                self.model.load_adapter(path, adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.base, path, adapter_name=name)
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            raise AdapterError(f"The adapter at '{path}' cannot be loaded on {self.base_name}: {error}") from error
        self.model.eval()
        self.adapters[name] = path

    def unload_adapter(self, name: str) -> None:
        if name not in self.adapters:
            raise AdapterError(f"The lora adapter '{name}' cannot be found.", not_found=True)
        del self.adapters[name]
        if self.adapters:
            self.model.delete_adapter(name)
        else:
            self.model = self.model.unload()  # no adapter left: back to the plain base model

    def answer(self, adapter: str | None, messages: list[dict[str, str]], sampling: Sampling) -> Answer:
        counts: dict[str, Any] = {}
        pieces = list(self.stream(adapter, messages, sampling, counts))
        return Answer("".join(pieces), counts["prompt"], counts["completion"], counts["finish"])

    def stream(
        self, adapter: str | None, messages: list[dict[str, str]], sampling: Sampling, counts: dict[str, Any]
    ) -> Iterator[str]:
        """Text pieces as they are generated; `counts` gets token counts and the finish reason at the end."""
        inputs: Any = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        inputs = inputs.to(self.base.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        result: dict[str, Any] = {}
        worker = threading.Thread(target=self._generate, args=(adapter, inputs, sampling, streamer, result))
        worker.start()
        yield from streamer
        worker.join()
        if "error" in result:
            raise result["error"]
        prompt = inputs["input_ids"].shape[1]
        completion = result["output"].shape[1] - prompt
        counts.update(
            prompt=prompt, completion=completion, finish="length" if completion >= sampling.max_tokens else "stop"
        )

    def _generate(
        self, adapter: str | None, inputs: Any, sampling: Sampling, streamer: Any, result: dict[str, Any]
    ) -> None:
        try:
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            sample = sampling.temperature > 0
            options: dict[str, Any] = {
                "max_new_tokens": sampling.max_tokens,
                "do_sample": sample,
                "streamer": streamer,
                "pad_token_id": self.tokenizer.pad_token_id,
                "eos_token_id": self.tokenizer.eos_token_id,
            }
            if sample:
                options.update(temperature=sampling.temperature, top_p=sampling.top_p)
            with torch.inference_mode():
                if adapter is None and self.adapters:
                    with self.model.disable_adapter():
                        result["output"] = self.model.generate(**inputs, **options)
                else:
                    if adapter is not None:
                        self.model.set_adapter(adapter)
                    result["output"] = self.model.generate(**inputs, **options)
        except Exception as error:  # noqa: BLE001 - re-raised in the request's own thread by `stream`
            result["error"] = error
            streamer.end()


__all__ = ["AdapterError", "Answer", "ModelError", "ModelHost", "Sampling"]
