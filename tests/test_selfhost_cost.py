"""Cost that can be checked: a local model folder's size comes from its config.json, not a 1B guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuning.catalogue import packaged_catalogue
from tuning.trainers.open_models import UNKNOWN_PARAMETERS_BILLION, folder_parameters_billion, gpu_hours


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
        "qwen2": Qwen2Config(vocab_size=500, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
                             num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True),
        "gpt2": GPT2Config(vocab_size=500, n_embd=64, n_layer=3, n_head=4, n_positions=64),
        "llama-untied": LlamaConfig(vocab_size=500, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False),
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
        gpu_hours(catalogue, "HuggingFaceTB/SmolLM2-135M-Instruct", 10**6) * size / 0.135)
    (tmp_path / "config.json").write_text('{"model_type": "mystery"}')
    assert folder_parameters_billion(tmp_path) is None
    unknown = gpu_hours(catalogue, str(tmp_path), 10**6)
    assert unknown == pytest.approx(gpu_hours(catalogue, str(tiny_model), 10**6) * UNKNOWN_PARAMETERS_BILLION / size)
