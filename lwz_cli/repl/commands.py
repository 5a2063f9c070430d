"""The chat's slash commands: their table, parsing with did-you-mean, and Tab
completion of names and arguments (section numbers, model aliases, paths)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from lwz_cli.errors import UsageError


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    help: str


COMMANDS = {
    c.name: c
    for c in (
        Command(
            "write", "PROMPT", "start a new document (plain text does too, when there is none)"
        ),
        Command("plan", "[edit]", "show the outline with budgets; `edit` opens it in $EDITOR"),
        Command(
            "outline",
            "FILE",
            "write exactly this outline file (`lwz plan` makes one); on a draft, replace its outline",
        ),
        Command("show", "[N]", "show section N, or the whole draft"),
        Command("redo", "N [NOTES]", "write section N again, following NOTES if given"),
        Command(
            "expand", "N WORDS", "rewrite section N at about WORDS words, keeping what it says"
        ),
        Command(
            "continue",
            "[WORDS]",
            "write on: a stopped section, the rest of the plan, or a new section",
        ),
        Command("words", "N", "change the target length (unwritten sections are rebalanced)"),
        Command("model", "NAME", "switch to another model (the draft keeps its text)"),
        Command(
            "brief",
            "[TEXT|FILE|off]",
            "the brief every prompt carries: audience, tone, points, facts",
        ),
        Command("style", "[FILE|off]", "a sample of your prose to write like (~400 words used)"),
        Command(
            "memory",
            "[edit|on|off]",
            "what each section established, given to later sections; `edit` opens it in $EDITOR",
        ),
        Command(
            "source",
            "[add PATH|list|rm PATH]",
            "write from these files: each section gets the passages that match it, to cite as [n]",
        ),
        Command("undo", "", "revert the last change"),
        Command(
            "save",
            "[PATH]",
            "write the document to PATH (default: the chat's file, else the last /save PATH)",
        ),
        Command(
            "export",
            "PATH",
            "save a copy converted by PATH's suffix (.docx .odt .epub .pdf .html)",
        ),
        Command("open", "PATH", "open an existing run (by its file or id) to go on with it"),
        Command("runs", "", "list runs, finished and unfinished"),
        Command("stats", "", "what the last step cost: tokens, speed, KV-cache reuse"),
        Command("help", "", "this list"),
        Command("quit", "", "leave; the draft stays a run (`lwz resume`, `/open`)"),
    )
}
ALIASES = {"exit": "quit", "q": "quit", "h": "help", "?": "help"}


@dataclass(frozen=True)
class Parsed:
    name: str
    args: str


def suggest(name: str) -> str | None:
    """The command a mistyped name most likely meant."""
    names = list(COMMANDS)
    starts = [n for n in names if n.startswith(name)]
    if len(starts) == 1:
        return starts[0]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    return close[0] if close else None


def parse(line: str) -> Parsed | None:
    """A slash command, or None for plain text. Unknown names raise UsageError
    with a suggestion."""
    text = line.strip()
    if not text.startswith("/") or text.startswith("//"):
        return None
    head, rest = [*text[1:].split(None, 1), ""][:2]  # a new line separates too
    name = ALIASES.get(head.lower(), head.lower())
    if name not in COMMANDS:
        guess = suggest(name)
        raise UsageError(
            f"unknown command /{head}" + (f" (did you mean /{guess}?)" if guess else ""),
            hint="/help lists the commands",
        )
    return Parsed(name, rest.strip())


def int_arg(text: str, what: str, usage: str) -> int:
    try:
        value = int(text.replace(",", ""))
    except ValueError:
        raise UsageError(f"{what} must be a number, not {text!r}", hint=f"usage: {usage}") from None
    if value <= 0:
        raise UsageError(f"{what} must be positive", hint=f"usage: {usage}")
    return value


def usage(name: str) -> str:
    command = COMMANDS[name]
    return f"/{name} {command.args}".strip()


def help_text() -> str:
    width = max(len(usage(n)) for n in COMMANDS)
    lines = [f"  {usage(n):<{width}}  {c.help}" for n, c in COMMANDS.items()]
    lines += [
        "",
        "  Plain text starts a draft when there is none; with one, it is guidance for "
        "the next /continue or /redo.",
        "  Enter sends; Alt-Enter (or Esc then Enter) adds a new line; Tab completes.",
        "  Ctrl-C stops a generation (what was written is kept); Ctrl-D or /quit leaves.",
    ]
    return "\n".join(lines)


class ChatCompleter(Completer):
    """Completes `/names`, then each command's arguments."""

    def __init__(
        self, sections: Callable[[], list[tuple[int, str]]], models: Callable[[str], Iterable[str]]
    ):
        self.sections = sections
        self.models = models
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent):
        text = document.text_before_cursor
        if not text.startswith("/"):
            return
        if " " not in text:
            word = text[1:].lower()
            for name, command in COMMANDS.items():
                if name.startswith(word):
                    yield Completion(
                        f"/{name}", start_position=-len(text), display_meta=command.help
                    )
            return
        head, _, rest = text[1:].partition(" ")
        name = ALIASES.get(head.lower(), head.lower())
        if name in ("redo", "expand", "show") and " " not in rest:
            for number, title in self.sections():
                if str(number).startswith(rest):
                    yield Completion(str(number), start_position=-len(rest), display_meta=title)
        elif name == "plan" and "edit".startswith(rest):
            yield Completion("edit", start_position=-len(rest))
        elif name == "memory":
            for word in ("edit", "on", "off"):
                if word.startswith(rest):
                    yield Completion(word, start_position=-len(rest))
        elif name == "model":
            for model in self.models(rest):
                yield Completion(model, start_position=-len(rest))
        elif name in ("save", "open", "outline", "export", "brief", "style", "source"):
            sub = Document(rest, len(rest))
            yield from self.paths.get_completions(sub, complete_event)
