"""Can a model's chat template be trained on prompt/completion examples? A pure check: jinja2 only, no torch.

TRL trains conversational prompt/completion rows by rendering the prompt with the generation prompt, then
prompt + answer, and training only on what follows the prompt. That is right only when the rendered prompt is
an exact prefix of the rendered prompt + answer; otherwise the model learns on a context it never sees when it
answers. `template_problem` renders one example both ways and says, in plain words, why a template fails.

The bot runs it at pre-flight on the catalogue's templates; the training program runs it on the tokenizer it
loads, before the first step. Rendering follows transformers' chat-template environment (sandboxed jinja2,
trim_blocks, lstrip_blocks, loop controls, `raise_exception`, `strftime_now`, `{% generation %}` blocks).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

Message = dict[str, str]

# Used when the caller has no example of its own (pre-flight before a dataset exists).
SAMPLE_PROMPT: list[Message] = [
    {"role": "system", "content": "You are the team's assistant."},
    {"role": "user", "content": "Where is the deploy guide?"},
]
SAMPLE_COMPLETION: list[Message] = [{"role": "assistant", "content": "It is in the wiki under Operations."}]


class TemplateError(ValueError):
    """A chat template that cannot train on prompt/completion examples; the message says why."""


class _Generation(Extension):
    """`{% generation %}…{% endgeneration %}` renders its body (transformers uses it to mark assistant tokens)."""

    tags = {"generation"}

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def _raise(message: str) -> None:
    raise TemplateError(f"the template refuses this conversation: {message}")


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


def render(template: str, messages: list[Message], add_generation_prompt: bool, **tokens: str) -> str:
    """The text a template makes of `messages`, as transformers' `apply_chat_template(tokenize=False)` would."""
    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_Generation, jinja2.ext.loopcontrols]
    )
    environment.globals.update(raise_exception=_raise, strftime_now=_strftime_now)
    return environment.from_string(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt, **tokens
    )


def template_problem(
    template: str | None,
    prompt: list[Message] | None = None,
    completion: list[Message] | None = None,
    special_tokens: Mapping[str, str] | None = None,
) -> str | None:
    """None when `template` can train on (prompt, completion); else why not, in one sentence.

    `special_tokens` are those the template may use (bos_token, eos_token), as the tokenizer passes them.
    """
    tokens = dict(special_tokens or {})
    if not template:
        return "the model has no chat template, so conversations cannot be turned into text."
    prompt = prompt or SAMPLE_PROMPT
    completion = completion or SAMPLE_COMPLETION
    try:
        prompt_text = render(template, prompt, True, **tokens)
        full_text = render(template, prompt + completion, False, **tokens)
        without_opening = render(template, prompt, False, **tokens)
    except TemplateError as error:
        return f"{error}."
    except jinja2.TemplateError as error:
        return f"the chat template cannot be rendered ({type(error).__name__}: {error})."
    if not full_text.startswith(prompt_text):
        where = _first_difference(prompt_text, full_text)
        return (
            f"the chat template renders the thread differently once the answer follows it (they part at "
            f"{prompt_text[where : where + 40]!r} versus {full_text[where : where + 40]!r}), so the model "
            f"would learn from a context it never sees when it answers."
        )
    if prompt_text == without_opening:
        return (
            "the chat template ignores add_generation_prompt, so an answer's opening is never given to the "
            "model when it answers; it is not an instruction-tuned chat model."
        )
    answer = completion[-1]["content"].strip()
    if answer and answer not in full_text[len(prompt_text) :]:
        return "the chat template does not render the assistant's answer after the thread."
    return None


def check_template(
    template: str | None,
    prompt: list[Message] | None = None,
    completion: list[Message] | None = None,
    special_tokens: Mapping[str, str] | None = None,
) -> None:
    """`template_problem`, raising TemplateError with the reason."""
    problem = template_problem(template, prompt, completion, special_tokens)
    if problem is not None:
        raise TemplateError(problem[0].upper() + problem[1:])


def _first_difference(left: str, right: str) -> int:
    for index, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            return index
    return min(len(left), len(right))
