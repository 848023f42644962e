"""Self-hosted training and serving: TRL + PEFT LoRA, usable without Slack.

A leaf package: it imports nothing else of Tuneloop's, so it can run on a Ray worker or a GPU box
that has only this folder and the `train` extra. `protocol` and `data` need the standard library
only; `train` and `serve` need torch, transformers, trl and peft.
"""
