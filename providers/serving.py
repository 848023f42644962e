"""Self-hosted models answer through TUNELOOP_SERVE_URL: an OpenAI-compatible server with vLLM's LoRA API.

A tuned self-hosted model is a LoRA adapter named `tuneloop-<job id>`. After its job succeeds its files
are published at `<TUNELOOP_ARTIFACTS>/adapters/tuneloop-<job id>` (see `Artifacts.publish_adapter`), the
layout vLLM's filesystem resolver reads (`VLLM_PLUGINS=lora_filesystem_resolver`,
`VLLM_LORA_RESOLVER_CACHE_DIR=<TUNELOOP_ARTIFACTS>/adapters`: it loads `<dir>/<lora_name>` when a request
names an adapter it does not hold). Tuneloop does not rely on the plugin: before an adapter answers it
is loaded with `POST /v1/load_lora_adapter {lora_name, lora_path}` (vLLM's runtime LoRA API, which
`tuneloop serve-model` speaks too). A model server that restarted forgets its adapters and answers 404
for them: the adapter is loaded again and the request retried once, streamed or not; only when that
reload fails is the model reported gone (which lets the fallback act). Base models the self-hosted
trainers know (and local model folders) answer through the same server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from typing import Any

import aiohttp
import openai

from providers.artifacts import Artifacts
from providers.chat import ChatClient
from tuning.errors import ModelError, ModelGone, TuningError
from tuning.ports import OnText
from tuning.training.trainers.open_models import is_adapter
from tuning.values import ChatReply

log = logging.getLogger(__name__)


class AdapterChatClient(ChatClient):
    """A ChatClient that makes sure an adapter is loaded on the server before it answers."""

    def __init__(self, client: openai.AsyncOpenAI, serve_url: str, artifacts: str) -> None:
        super().__init__(client, provider="vllm")
        self._admin_url = serve_url.rstrip("/")
        self._artifacts = Artifacts(artifacts)
        self._loaded: set[str] = set()

    def adapter_path(self, name: str) -> str:
        return self._artifacts.served_adapter(name)

    async def complete(self, model: str, messages: list[dict[str, str]], *, max_tokens: int | None = None) -> ChatReply:
        if not is_adapter(model):
            return await super().complete(model, messages, max_tokens=max_tokens)
        await self.load(model)
        try:
            return await super().complete(model, messages, max_tokens=max_tokens)
        except ModelGone:
            await self._reload(model)
            return await _not_gone(super().complete(model, messages, max_tokens=max_tokens))

    async def stream(self, model: str, messages: list[dict[str, str]], on_text: OnText) -> ChatReply:
        if not is_adapter(model):
            return await super().stream(model, messages, on_text)
        await self.load(model)
        written = False

        async def tracked(piece: str) -> None:
            nonlocal written
            written = True
            await on_text(piece)

        try:
            return await super().stream(model, messages, tracked)
        except ModelGone:
            if written:  # a 404 comes before any text; never repeat words the reader has seen
                raise
            await self._reload(model)
            return await _not_gone(super().stream(model, messages, on_text))

    async def _reload(self, name: str) -> None:
        """The server answered 404 for an adapter: it restarted and forgot it. A reload that fails means gone."""
        self._loaded.discard(name)
        log.info("the model server does not know adapter %s (restarted?): loading it again", name)
        try:
            await self.load(name)
        except ModelError as error:
            raise ModelGone(str(error), f"reload failed: {error}") from error

    async def load(self, name: str) -> None:
        if name in self._loaded:
            return
        body = {"lora_name": name, "lora_path": self.adapter_path(name)}
        status, text = await self._admin("POST", "/load_lora_adapter", body)
        if status != 200 and "already been loaded" not in text:
            raise ModelError(f"The model server could not load the adapter `{name}` (HTTP {status}): {_message(text)}")
        self._loaded.add(name)
        log.info("adapter %s loaded on the model server", name)

    async def check_base(self, base_model: str) -> None:
        """Refuse when the server does not serve `base_model`: an adapter only answers on the base it was trained on.

        `GET /v1/models` lists base models with `parent: null`; `id` is the served name (vLLM's
        `--served-model-name` changes it) and `root` the model it loaded, so either may match."""
        status, text = await self._admin("GET", "/models", None)
        try:
            cards = json.loads(text)["data"] if status == 200 else None
        except (ValueError, KeyError, TypeError):
            cards = None
        if not isinstance(cards, list):
            raise TuningError(f"The model server at TUNELOOP_SERVE_URL did not list its models (HTTP {status}).")
        bases = [card for card in cards if isinstance(card, dict) and card.get("parent") is None]
        if any(_same_model(base_model, card.get(key)) for card in bases for key in ("id", "root")):
            return
        served = ", ".join(f"`{card.get('id')}` (loaded from `{card.get('root')}`)" for card in bases) or "nothing"
        raise TuningError(
            f"The model server at TUNELOOP_SERVE_URL serves {served}, but this adapter was trained on "
            f"`{base_model}`: a LoRA adapter answers only on its own base model. Start the server with "
            f"`--model {base_model}` (vLLM, or `tuneloop serve-model`), or point TUNELOOP_SERVE_URL at one that does."
        )

    async def _admin(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, str]:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session,
                session.request(method, f"{self._admin_url}{path}", json=body) as response,
            ):
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ModelError(
                f"The model server at TUNELOOP_SERVE_URL cannot be reached ({type(error).__name__})."
            ) from error


async def _not_gone(answer: Awaitable[ChatReply]) -> ChatReply:
    """The retry after a successful reload: a 404 now is the server's trouble, not a model gone (no fallback)."""
    try:
        return await answer
    except ModelGone as error:
        raise ModelError(str(error)) from error


def _same_model(expected: str, served: object) -> bool:
    return isinstance(served, str) and bool(served) and served.rstrip("/") == expected.rstrip("/")


def _message(text: str) -> str:
    try:
        return str(json.loads(text)["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return text.strip()[:300]
