"""The training program's inputs: dataset lines, flags and base model are checked before anything trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfhost import train
from selfhost.data import DataError, read_rows
from selfhost.protocol import parse_line
from tests.selfhost_helpers import SYSTEM, dpo_lines, kto_lines, sft_lines, write_jsonl


def test_dpo_lines_become_trl_prompt_chosen_rejected(tmp_path: Path) -> None:
    rows = read_rows(write_jsonl(tmp_path / "t.jsonl", dpo_lines(2)), "dpo")
    assert rows[0]["prompt"][-1] == {"role": "user", "content": "How do I reset my password?"}
    assert rows[0]["chosen"] == [
        {"role": "assistant", "content": "Open settings, choose security, then reset password."}
    ]
    assert rows[0]["rejected"] == [{"role": "assistant", "content": "I do not know."}]


def test_sft_lines_become_the_thread_as_prompt_and_the_rated_answer_as_completion(tmp_path: Path) -> None:
    line = sft_lines(1)[0]
    line["messages"][2]["weight"] = 1
    line["messages"][1:1] = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello."}]
    rows = read_rows(write_jsonl(tmp_path / "t.jsonl", [line]), "sft")
    assert rows == [
        {
            "prompt": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "How do I reset my password?"},
            ],
            "completion": [{"role": "assistant", "content": "Open settings, choose security, then reset password."}],
        }
    ]  # role and content only; the earlier answer is context, not a target


def test_kto_lines_are_trl_prompt_completion_label(tmp_path: Path) -> None:
    rows = read_rows(write_jsonl(tmp_path / "t.jsonl", kto_lines(2)), "kto")
    assert rows[0]["label"] is True and rows[1]["label"] is False
    assert rows[0]["prompt"][-1] == {"role": "user", "content": "How do I reset my password?"}
    assert rows[1]["completion"] == [{"role": "assistant", "content": "I do not know."}]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"label": "yes"}, "`label` must be true"),
        ({"completion": [{"role": "user", "content": "x"}]}, "`completion` must be one assistant message"),
        ({"prompt": []}, "`prompt` must be a non-empty list"),
    ],
)
def test_a_bad_kto_line_is_named(tmp_path: Path, change: dict, reason: str) -> None:
    with pytest.raises(DataError, match=f"line 1: {reason}"):
        read_rows(write_jsonl(tmp_path / "t.jsonl", [{**kto_lines(1)[0], **change}]), "kto")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json\n", "line 2: not valid JSON"),
        ('{"messages": []}\n', "line 2: `messages` must be a non-empty list"),
        ('{"messages": [{"role": "user", "content": "hi"}]}\n', "line 2: an SFT example must end with the assistant's"),
        ('{"messages": [{"role": "assistant", "content": "hi"}]}\n', "line 2: an SFT example needs the thread before"),
        ('{"messages": [{"role": "robot", "content": "hi"}]}\n', "line 2: every message in `messages` needs a role"),
        ('{"chat": 1}\n', "line 2: the key 'messages' is missing"),
    ],
)
def test_a_bad_sft_line_is_named_by_number(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(sft_lines(1)[0]) + "\n" + text)
    with pytest.raises(DataError, match=reason):
        read_rows(path, "sft")


def test_a_dpo_answer_must_come_from_the_assistant(tmp_path: Path) -> None:
    line = dpo_lines(1)[0]
    line["preferred_output"][0]["role"] = "user"
    with pytest.raises(DataError, match="line 1: `preferred_output` must hold assistant messages only"):
        read_rows(write_jsonl(tmp_path / "t.jsonl", [line]), "dpo")


def _run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict]]:
    code = train.main(argv)
    lines = [parse_line(text) for text in capsys.readouterr().out.splitlines()]
    assert all(line is not None and line.pop("time") for line in lines)  # every stdout line is a stamped object
    return code, lines


def test_a_missing_dataset_file_is_one_error_line_and_exit_2(tmp_path: Path, capsys) -> None:
    code, lines = _run_main(
        ["--base-model", "x", "--train-file", str(tmp_path / "nope.jsonl"), "--output-dir", str(tmp_path / "out")],
        capsys,
    )
    assert code == 2
    assert lines == [{"kind": "error", "error": f"There is no dataset file at {tmp_path / 'nope.jsonl'}."}]
    assert not (tmp_path / "out").exists()


def test_bad_jsonl_is_one_error_line_and_exit_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"messages": "hello"}\n')
    code, lines = _run_main(["--base-model", "x", "--train-file", str(path), "--output-dir", str(tmp_path)], capsys)
    assert code == 2
    assert lines[0]["error"] == "t.jsonl line 1: `messages` must be a non-empty list of messages."


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--lora-dropout", "1.5"], "--lora-dropout must be from 0"),
        (["--method", "ppo"], "invalid choice: 'ppo'"),
        (["--learning-rate", "fast"], "invalid float value: 'fast'"),
        (["--save-steps", "0"], "--save-steps must be at least 1"),
        (["--gradient-accumulation-steps", "0"], "--gradient-accumulation-steps must be at least 1"),
        (["--precision", "fp8"], "invalid choice: 'fp8'"),
        (["--method", "kto", "--batch-size", "1"], "--batch-size must be at least 2 for KTO"),
        (["--method", "dpo", "--packing"], "--packing is for SFT only"),
    ],
)
def test_bad_flags_are_one_error_line(tmp_path: Path, capsys, flags: list[str], reason: str) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", sft_lines(1))
    code, lines = _run_main(
        ["--base-model", "x", "--train-file", str(path), "--output-dir", str(tmp_path), *flags], capsys
    )
    assert code == 2 and len(lines) == 1
    assert reason in lines[0]["error"]


def test_a_folder_that_is_not_a_model_is_refused(tmp_path: Path, capsys) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", sft_lines(1))
    (tmp_path / "empty-model").mkdir()
    code, lines = _run_main(
        [
            "--base-model",
            str(tmp_path / "empty-model"),
            "--train-file",
            str(path),
            "--output-dir",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert code == 2
    assert lines == [
        {
            "kind": "error",
            "error": f"The base model folder {tmp_path / 'empty-model'} has no config.json: it is not a model folder.",
        }
    ]


def test_parse_line_ignores_what_is_not_a_program_line() -> None:
    assert parse_line("{'loss': 1.0}") is None
    assert parse_line('{"kind": "weather"}') is None
    assert parse_line("Loading weights 100%") is None
    assert parse_line('{"kind": "event", "message": "hi"}') == {"kind": "event", "message": "hi"}
    assert parse_line('Map: 100%|###| 6/6\r{"kind": "event", "message": "hi"}\n') == {"kind": "event", "message": "hi"}
