"""Cost that can be checked: a local model folder's size comes from its config.json, not a 1B guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuning.catalogue.entries import packaged_catalogue
from tuning.training.trainers.open_models import UNKNOWN_PARAMETERS_BILLION, folder_parameters_billion, gpu_hours


def saved(folder: Path, config: object) -> int:
    """Save a model with random weights built from `config`; return its real parameter count."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(folder)
    return sum(parameter.numel() for parameter in model.parameters())


def test_a_llama_folder_is_counted_exactly(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM

    real = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny_model).parameters())
    assert folder_parameters_billion(tiny_model) == pytest.approx(real / 1e9, rel=0, abs=0.5e-9)


@pytest.mark.parametrize("architecture", ["qwen2", "gpt2", "llama-untied"])
def test_other_shapes_are_counted_within_a_few_percent(tmp_path: Path, architecture: str) -> None:
    from transformers import GPT2Config, LlamaConfig, Qwen2Config

    config = {
        "qwen2": Qwen2Config(
            vocab_size=500,
            hidden_size=64,
            intermediate_size=160,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            tie_word_embeddings=True,
        ),
        "gpt2": GPT2Config(vocab_size=500, n_embd=64, n_layer=3, n_head=4, n_positions=64),
        "llama-untied": LlamaConfig(
            vocab_size=500,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            tie_word_embeddings=False,
        ),
    }[architecture]
    real = saved(tmp_path, config)
    assert folder_parameters_billion(tmp_path) == pytest.approx(real / 1e9, rel=0.05)


def test_the_estimate_follows_the_folders_size_and_an_unreadable_config_falls_back(
    tmp_path: Path, tiny_model: Path
) -> None:
    catalogue = packaged_catalogue()
    size = folder_parameters_billion(tiny_model)
    assert size is not None and size < 0.001
    assert gpu_hours(catalogue, str(tiny_model), 10**6) == pytest.approx(
        gpu_hours(catalogue, "HuggingFaceTB/SmolLM2-135M-Instruct", 10**6) * size / 0.135
    )
    (tmp_path / "config.json").write_text('{"model_type": "mystery"}')
    assert folder_parameters_billion(tmp_path) is None
    unknown = gpu_hours(catalogue, str(tmp_path), 10**6)
    assert unknown == pytest.approx(gpu_hours(catalogue, str(tiny_model), 10**6) * UNKNOWN_PARAMETERS_BILLION / size)


def _job(**fields: object) -> object:
    from tuning.training.jobs.view import JobView

    values = {
        "id": "j1",
        "dataset": "faq@1",
        "trainer": "openai",
        "base_model": "gpt-4.1-mini",
        "method": "sft",
        "examples": 50,
        "tokens": 10_000,
        "epochs": 2,
        "estimated_cost": 1.2,
        "state": "preflight",
        "channel": "C1",
        "requested_by": "U1",
        "created_at": "2026-12-05T10:00:00.000Z",
        "cost_note": "estimate, prices checked 2026-12-01",
    }
    return JobView(**(values | fields))


def test_the_start_confirmation_says_what_the_job_costs_and_where_it_runs() -> None:
    from render.jobs import preflight_card

    def confirmation(job: object) -> str:
        blocks, _ = preflight_card(job)  # type: ignore[arg-type]
        return str(
            next(block for block in blocks if block.type == "actions").to_dict()["elements"][0]["confirm"]["text"][
                "text"
            ]
        )

    assert confirmation(_job()) == "This starts a paid job (about $1.20)."
    selfhosted = _job(trainer="local", estimated_cost=0.0, cost_note="self-hosted: 0.02 GPU-hours × $0 an hour")
    said = confirmation(selfhosted)
    assert "own hardware with the `local` trainer" in said and "paid job" not in said and "$0.00" not in said


def test_the_final_card_puts_measured_gpu_hours_beside_the_estimate() -> None:
    from datetime import UTC, datetime

    from render.jobs import job_card

    done = {
        "state": "succeeded",
        "fine_tuned_model": "tuneloop-j1",
        "trained_tokens": 20_000,
        "started_at": "2026-12-05T10:00:00.000Z",
        "finished_at": "2026-12-05T10:30:00.000Z",
    }
    selfhosted = _job(
        trainer="ray",
        cost_note="self-hosted: 0.40 GPU-hours × $2 an hour",
        gpu_hours=0.5,
        serving_note="The adapter is not readable at /shared/jobs/j1/out/adapter (no weights)",
        **done,
    )
    text = str([block.to_dict() for block in job_card(selfhosted, datetime.now(UTC))[0]])  # type: ignore[arg-type]
    assert "0.5 GPU-hours measured (estimated before the start: self-hosted: 0.40 GPU-hours" in text
    assert ":warning: The adapter is not readable at /shared/jobs/j1/out/adapter" in text
    hosted = str([block.to_dict() for block in job_card(_job(**done), datetime.now(UTC))[0]])  # type: ignore[arg-type]
    assert "*Cost:* $1.20 (estimate)" in hosted and "GPU-hours" not in hosted
