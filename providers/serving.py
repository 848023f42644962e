"""Self-hosted models answer through TUNELOOP_SERVE_URL: an OpenAI-compatible server with vLLM's LoRA API.

A tuned self-hosted model is a LoRA adapter named `tuneloop-<job id>`; its files are in
`<TUNELOOP_ARTIFACTS>/jobs/<job id>/out/adapter`. Before the adapter answers (evaluation, `/tune
promote`, every later answer) it is loaded with `POST /v1/load_lora_adapter {lora_name, lora_path}`
(vLLM's runtime LoRA API, which `tuneloop serve-model` speaks too); a server that restarted and
forgot it gets it loaded again. Base models the self-hosted trainers know (and local model folders)
answer through the same server, so an adapter is evaluated against its own base.
"""

from __future__ import annotations

import json
import logging

import aiohttp
import openai

from providers.artifacts import Artifacts
from providers.chat import ChatClient
from providers.selfhost_jobs import ADAPTER_SUBDIR
from tuning.errors import ModelError
from tuning.ports import OnText
from tuning.trainers.open_models import ADAPTER_PREFIX, is_adapter
from tuning.types import ChatReply

log = logging.getLogger(__name__)


class AdapterChatClient(ChatClient):
    """A ChatClient that makes sure an adapter is loaded on the server before it answers."""

    def __init__(self, client: openai.AsyncOpenAI, serve_url: str, artifacts: str) -> None:
        super().__init__(client, provider="vllm")
        self._admin_url = serve_url.rstrip("/")
        self._artifacts = Artifacts(artifacts)
        self._loaded: set[str] = set()

    def adapter_path(self, name: str) -> str:
        return f"{self._artifacts.job_dir(name.removeprefix(ADAPTER_PREFIX))}/out/{ADAPTER_SUBDIR}"

    async def complete(self, model: str, messages: list[dict[str, str]]) -> ChatReply:
        if not is_adapter(model):
            return await super().complete(model, messages)
        await self.load(model)
        try:
            return await super().complete(model, messages)
        except ModelError:
            if model not in self._loaded:
                raise
            self._loaded.discard(model)  # the server may have restarted and forgotten it: load once more
            await self.load(model)
            return await super().complete(model, messages)

    async def stream(self, model: str, messages: list[dict[str, str]], on_text: OnText) -> ChatReply:
        if is_adapter(model):
            await self.load(model)  # a forgotten adapter fails before any text: complete() retries that case
        return await super().stream(model, messages, on_text)

    async def load(self, name: str) -> None:
        if name in self._loaded:
            return
        body = {"lora_name": name, "lora_path": self.adapter_path(name)}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session, \
                    session.post(f"{self._admin_url}/load_lora_adapter", json=body) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ModelError(f"The model server at TUNELOOP_SERVE_URL cannot be reached ({type(error).__name__}).") \
                from error
        if response.status != 200 and "already been loaded" not in text:
            raise ModelError(f"The model server could not load the adapter `{name}` (HTTP {response.status}): "
                             f"{_message(text)}")
        self._loaded.add(name)
        log.info("adapter %s loaded on the model server", name)


def _message(text: str) -> str:
    try:
        return str(json.loads(text)["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return text.strip()[:300]
