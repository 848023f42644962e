"""The `/tune` grammar: positional arguments, then `key:value` options. A Slack concern, so it lives here.

The trainer back-ends it offers are given by bot/ (from providers/registry.py's specs): `Grammar(trainers)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tuning.errors import UsageError
from tuning.values import ChannelRef

Parser = Callable[[str], Any]


@dataclass(frozen=True)
class Option:
    name: str
    hint: str
    parse: Parser
    field: str | None = None  # the domain's name for it (a TrainOptions field) where the Slack word differs


@dataclass(frozen=True)
class Subcommand:
    name: str
    summary: str
    args: tuple[tuple[str, Parser], ...] = ()
    options: tuple[Option, ...] = ()
    args_optional: bool = False  # `/tune canary` alone shows; `/tune canary MODEL` starts (trailing ones may go)

    @property
    def usage(self) -> str:
        words = ["/tune", self.name, *(f"[{arg}]" if self.args_optional else arg for arg, _ in self.args)]
        words += [f"[{option.name}:{option.hint}]" for option in self.options]
        return " ".join(words)


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    spec: Subcommand | None = None

    def fields(self) -> dict[str, Any]:
        """The options by the domain's names (`lr:` is `learning_rate`), for the value the domain takes."""
        by_word = {option.name: option.field or option.name for option in self.spec.options} if self.spec else {}
        return {by_word.get(word, word): value for word, value in self.options.items()}


def _int(low: int, high: int) -> Parser:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return value

    parse.__doc__ = f"a whole number from {low} to {high}"
    return parse


def _float(low: float, high: float, *, low_open: bool = False) -> Parser:
    def parse(text: str) -> float:
        value = float(text)
        if not (low < value if low_open else low <= value) or value > high or value != value:
            raise ValueError
        return value

    parse.__doc__ = f"a number {'above' if low_open else 'from'} {low:g} {'and at most' if low_open else 'to'} {high:g}"
    return parse


def _choice(*values: str) -> Parser:
    def parse(text: str) -> str:
        if text.lower() not in values:
            raise ValueError
        return text.lower()

    parse.__doc__ = "one of " + ", ".join(values)
    return parse


def _pattern(regex: str, description: str) -> Parser:
    compiled = re.compile(regex)

    def parse(text: str) -> str:
        if not compiled.fullmatch(text):
            raise ValueError
        return text

    parse.__doc__ = description
    return parse


def _share(text: str) -> float:
    """a share of threads from 1% to 99%, written like 20%"""
    if not re.fullmatch(r"\d{1,2}(\.\d+)?%?", text) or not 1 <= float(text.rstrip("%")) <= 99:
        raise ValueError
    return float(text.rstrip("%")) / 100


def _date(text: str) -> date:
    """a date written YYYY-MM-DD"""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError
    return date.fromisoformat(text)


_CHANNEL = re.compile(r"<#(?P<id>[CGD][A-Z0-9]+)(?:\|(?P<escaped>[^>]*))?>|#(?P<name>[a-z0-9][a-z0-9_\-]{0,79})")


def _channel(text: str) -> ChannelRef:
    """a channel, written #name"""
    match = _CHANNEL.fullmatch(text)
    if not match:
        raise ValueError
    return ChannelRef(id=match["id"], name=match["escaped"] or match["name"] or None)


_dataset = _pattern(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}(@[1-9][0-9]{0,5})?", "a dataset name, optionally NAME@version")
_name = _pattern(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", "a name of letters, digits, '.', '_' or '-'")
_job = _pattern(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}", "a job id")
_model = _pattern(r"[A-Za-z0-9/~][A-Za-z0-9_.:/~\-]{0,255}", "a model name (or, for local and ray, a model folder)")
_endpoint = _pattern(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}", "an endpoint id (`/tune endpoints` lists them)")
_user = _pattern(r"<@[UW][A-Z0-9]{2,}(\|[^>]*)?>|[UW][A-Z0-9]{2,}", "a person, written @name")
_target = _pattern(r"[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,255}", "a model name, a job id or `base`")


def subcommands(trainers: Sequence[str]) -> tuple[Subcommand, ...]:
    """Every subcommand; `trainers` are the back-ends `trainer:` and `to:` accept."""
    trainer = _choice(*trainers)
    backends = "|".join(trainers)
    return (
        Subcommand("help", "show this help"),
        Subcommand("stats", "examples collected, by state, source, channel and contributor"),
        Subcommand("review", "approve, reject or edit candidate examples (admins act)"),
        Subcommand(
            "harvest",
            "collect 👍 examples from a channel's history",
            args=(("#channel", _channel),),
            options=(Option("days", "30", _int(1, 365)),),
        ),
        Subcommand(
            "dataset build",
            "build a new version of a dataset from approved examples",
            args=(("NAME", _name),),
            options=(
                Option("since", "YYYY-MM-DD", _date),
                Option("channel", "#c", _channel),
                Option("format", "sft|dpo|kto", _choice("sft", "dpo", "kto")),
                Option("val", "0.1", _float(0, 0.5)),
            ),
        ),
        Subcommand("dataset list", "list datasets and their versions"),
        Subcommand("dataset show", "show a dataset version's summary", args=(("NAME", _dataset),)),
        Subcommand(
            "train",
            "check a fine-tuning job and offer to start it",
            args=(("DATASET", _dataset),),
            options=(
                Option("trainer", backends, trainer),
                Option("model", "BASE", _model),
                Option("epochs", "N", _int(1, 25)),
                Option("batch", "N", _int(1, 256), field="batch_size"),
                Option("lr", "X", _float(0, 100, low_open=True), field="learning_rate"),
                Option("suffix", "S", _pattern(r"[A-Za-z0-9_\-]{1,40}", "up to 40 letters, digits, '_' or '-'")),
                Option("beta", "X", _float(0, 10, low_open=True)),
                Option("seed", "N", _int(0, 2**31 - 1)),
            ),
        ),
        Subcommand("jobs", "recent fine-tuning jobs"),
        Subcommand("status", "one job's state", args=(("JOB", _job),)),
        Subcommand("cancel", "cancel a running job (admins)", args=(("JOB", _job),)),
        Subcommand(
            "eval",
            "evaluate a model against the references of a dataset's validation split",
            args=(("MODEL|JOB|base", _target),),
            options=(
                Option("against", "MODEL", _model),
                Option("dataset", "NAME", _dataset),
                Option("memory", "on|off", _choice("on", "off")),
            ),
        ),
        Subcommand(
            "promote",
            "answer with this model from now on, if its evaluation against the current model allows (admins)",
            args=(("MODEL|JOB", _target),),
            options=(
                Option("force", "yes", _choice("yes")),
                Option("reason", "WHY", _pattern(r"\S{1,200}", "a reason in one word (join words with - or _)")),
            ),
        ),
        Subcommand(
            "canary",
            "show the canary; MODEL answers a share of new threads; promote (through the gate) or stop (admins)",
            args=(("MODEL|promote|stop", _target),),
            options=(Option("share", "20%", _share),),
            args_optional=True,
        ),
        Subcommand(
            "migrate",
            "retrain the answering model's dataset on another back-end and compare (admins)",
            options=(Option("to", backends, trainer), Option("model", "BASE", _model)),
        ),
        Subcommand("rollback", "go back to the previous answering model (admins)"),
        Subcommand("model", "the current answering model and its history"),
        Subcommand("endpoints", "Tuneloop's Together endpoints, their state and hourly cost"),
        Subcommand("endpoint stop", "stop an endpoint: it stops billing (admins)", args=(("ID", _endpoint),)),
        Subcommand(
            "endpoint start", "start a stopped endpoint: it bills while it runs (admins)", args=(("ID", _endpoint),)
        ),
        Subcommand("endpoint delete", "delete an endpoint for good (admins)", args=(("ID", _endpoint),)),
        Subcommand(
            "memory",
            "team memory's size, hit rate and most-used answers; on|off switches it, here or in #channel (admins)",
            args=(("on|off", _choice("on", "off")), ("#channel", _channel)),
            args_optional=True,
        ),
        Subcommand("forget", "erase a person's messages, votes and examples (admins)", args=(("@user", _user),)),
        Subcommand("alerts", "quality alerts: the 👍-rate of recent answers against earlier ones, and failures"),
    )


_ECHO_LIMIT = 60  # what was typed is quoted back in an error; a pasted novel is not


def _echo(text: str) -> str:
    return text if len(text) <= _ECHO_LIMIT else text[: _ECHO_LIMIT - 1] + "…"


class Grammar:
    """`/tune`'s subcommands for the back-ends this deployment knows."""

    def __init__(self, trainers: Sequence[str]) -> None:
        self.subcommands = subcommands(trainers)
        self._by_name = {spec.name: spec for spec in self.subcommands}
        self._groups = {spec.name.split()[0] for spec in self.subcommands if " " in spec.name}

    def parse(self, text: str) -> Command:
        """Parse the text after `/tune`; raise UsageError naming the problem and the right usage."""
        words = text.split()
        if not words:
            return Command("help", spec=self._by_name["help"])
        spec, rest = self._find_subcommand(words)
        positional = [word for word in rest if not _is_option(word)]
        options = [word for word in rest if _is_option(word)]
        return Command(spec.name, _parse_args(spec, positional), _parse_options(spec, options), spec)

    def help_text(self) -> str:
        return "\n".join(f"`{spec.usage}` — {spec.summary}" for spec in self.subcommands)

    def _find_subcommand(self, words: list[str]) -> tuple[Subcommand, list[str]]:
        head = words[0].lower()
        if head in self._groups:
            group_usage = "\n".join(spec.usage for spec in self.subcommands if spec.name.startswith(head + " "))
            if len(words) < 2:
                raise UsageError(f"`/tune {head}` needs one more word.", group_usage)
            name = f"{head} {words[1].lower()}"
            if name not in self._by_name:
                raise UsageError(f"`/tune {head}` has no subcommand `{_echo(words[1])}`.", group_usage)
            return self._by_name[name], words[2:]
        if head not in self._by_name:
            raise UsageError(f"`/tune` has no subcommand `{_echo(words[0])}`. Try `/tune help`.", self.help_text())
        return self._by_name[head], words[1:]


def _is_option(word: str) -> bool:
    # A channel mention or a provider model id may contain ':' too; options start with a bare key.
    return re.match(r"^[a-z]+:", word) is not None and not word.startswith(("ft:", "<"))


def _parse_args(spec: Subcommand, words: list[str]) -> dict[str, Any]:
    if len(words) < len(spec.args) and not spec.args_optional:
        missing = " ".join(name for name, _ in spec.args[len(words) :])
        raise UsageError(f"`/tune {spec.name}` needs {missing}.", spec.usage)
    if len(words) > len(spec.args):
        extra = _echo(" ".join(words[len(spec.args) :]))
        raise UsageError(f"`/tune {spec.name}` does not take `{extra}`.", spec.usage)
    values = {}
    for (name, parser), word in zip(spec.args, words, strict=False):  # optional args may all be left out
        values[name] = _convert(spec, name, parser, word, shown=word)
    return values


def _parse_options(spec: Subcommand, words: list[str]) -> dict[str, Any]:
    known = {option.name: option for option in spec.options}
    values: dict[str, Any] = {}
    for word in words:
        key, _, raw = word.partition(":")
        if key not in known:
            allowed = ", ".join(f"`{name}:`" for name in known) or "none"
            raise UsageError(f"`/tune {spec.name}` has no option `{_echo(key)}:` (options: {allowed}).", spec.usage)
        if key in values:
            raise UsageError(f"Option `{key}:` is given twice.", spec.usage)
        values[key] = _convert(spec, f"{key}:", known[key].parse, raw, shown=word)
    return values


def _convert(spec: Subcommand, name: str, parser: Parser, raw: str, *, shown: str) -> Any:
    try:
        return parser(raw)
    except ValueError:
        raise UsageError(f"`{_echo(shown)}` is not valid for {name}: expected {parser.__doc__}.", spec.usage) from None
