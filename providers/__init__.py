"""Adapters to model providers: each implements a port of the domain (tuning/ports.py) over an SDK or API.

- chat.py             `ChatClient`: answers through any OpenAI-compatible endpoint (OpenAI, Azure, Together)
- openai_trainer.py   `OpenAITrainer`: OpenAI / Azure OpenAI fine-tuning through the `openai` SDK
- together_trainer.py `TogetherTrainer` (and together_http.py, its REST client): Together fine-tuning
- retry.py            the retry policy for calls the SDKs must not retry themselves (job creation)
- local_trainer.py, ray_trainer.py: self-hosted LoRA training (on this machine, on a Ray cluster)
- spec.py, registry.py each back-end's `SPEC`, and `SPECS`: the list everything else derives from

Only bot/ (the composition root) builds these; the domain sees them through its protocols.
"""

from providers.chat import ChatClient, eval_openai_client
from providers.openai_trainer import OpenAITrainer
from providers.registry import build_trainers
from providers.retry import RetryPolicy
from providers.together_trainer import TogetherTrainer

__all__ = [
    "ChatClient",
    "OpenAITrainer",
    "RetryPolicy",
    "TogetherTrainer",
    "build_trainers",
    "eval_openai_client",
]
