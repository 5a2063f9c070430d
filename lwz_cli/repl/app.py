"""`lwz chat`: the prompt-toolkit loop over a `DraftingSession`.

Input and output are injectable (prompt-toolkit pipe input and a dummy output
in tests); generation is drawn by the same views as `lwz write`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings

from lwz_cli.engine_slot import WaitStopped
from lwz_cli.errors import Interrupted, LwzError, UsageError
from lwz_cli.events import Emit, Event, WaitingEvent
from lwz_cli.export import require as require_converter
from lwz_cli.interrupt import interrupt_sets
from lwz_cli.models.names import model_names
from lwz_cli.repl import commands
from lwz_cli.run_listing import run_rows
from lwz_cli.runstate import RunStatus
from lwz_cli.view import View
from lwz_cli.view.live import LiveView
from lwz_cli.writing.brief import read_brief, read_style
from lwz_cli.writing.drafting import DraftingSession
from lwz_cli.writing.length import count_words, word_unit
from lwz_cli.writing.outline_file import outline_prompt, read_outline
from lwz_cli.writing.run import start_event
from lwz_cli.writing.session import check_words

ViewFactory = Callable[[], View]
UNSAVED = "(unsaved draft)"  # how a draft without a file is named on screen


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("escape", "enter")  # Alt-Enter arrives as Esc + Enter
    def _newline(event) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


class ChatApp:
    def __init__(
        self,
        session: DraftingSession,
        *,
        view_factory: ViewFactory,
        out: TextIO | None = None,
        history: Path | None = None,
        pt_input=None,
        pt_output=None,
        confirm: Callable[[str], bool] | None = None,
    ):
        self.session = session
        self.view_factory = view_factory
        self.out = out or sys.stderr
        self.confirm = confirm or self._confirm
        if history is not None:
            history.parent.mkdir(parents=True, exist_ok=True)
        self.prompt: PromptSession[str] = PromptSession(
            history=FileHistory(str(history)) if history is not None else InMemoryHistory(),
            completer=commands.ChatCompleter(self._section_choices, self._model_choices),
            complete_while_typing=False,
            key_bindings=_key_bindings(),
            bottom_toolbar=self.toolbar,
            input=pt_input,
            output=pt_output,
        )
        self.running = True
        self.saved_to: Path | None = None  # the last /save PATH: a bare /save writes it again
        self._saved_text: str | None = None  # what that /save wrote, to tell if it is stale

    # -- screen ----------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.out.write(text.rstrip("\n") + "\n")
        self.out.flush()

    def document_label(self) -> str:
        """Where the draft goes, for the toolbar: the chat's file, else the last
        /save target, else that it has none."""
        s = self.session
        if s.output is not None:
            return s.output.name
        if self.saved_to is not None:
            stale = self._saved_text != self._text_to_save()
            return f"{self.saved_to}{' (unsaved changes)' if stale else ''}"
        return UNSAVED

    def _text_to_save(self) -> str:
        return self.session.document().strip() + "\n"

    def toolbar(self) -> str:
        s = self.session
        parts = [s.model_name]
        if s.has_draft:
            parts.append(self.document_label())
            target = f" / {s.target:,}" if s.target else ""
            counted = word_unit(s.run.language) if s.run is not None else "words"
            parts += [f"{s.words:,}{target} {counted}", f"{s.written}/{len(s.sections)} sections"]
        if s.stats.generated:
            parts.append(f"{s.stats.tokens_per_second:.1f} tok/s")
        if s.stats.prompt_tokens:
            parts.append(f"KV reuse {s.stats.reused:,}/{s.stats.prompt_tokens:,}")
        parts.append("Alt-Enter: new line · /help")
        return " │ ".join(parts)

    def _section_choices(self) -> list[tuple[int, str]]:
        return [(i, sec.title) for i, sec in enumerate(self.session.sections, 1)]

    @staticmethod
    def _model_choices(prefix: str) -> list[str]:
        return model_names(prefix)

    def _confirm(self, question: str) -> bool:
        try:
            answer = self.prompt.prompt(f"{question} [y/N] ")
        except (EOFError, KeyboardInterrupt):
            return False
        return answer.strip().lower() in ("y", "yes")

    # -- loop -----------------------------------------------------------------------------

    def run(self) -> None:
        self.say("lwz chat: /help lists the commands; Ctrl-D or /quit leaves.")
        if self.session.has_draft:
            self.say(self._summary())
        while self.running:
            try:
                line = self.prompt.prompt("lwz> ")
            except KeyboardInterrupt:
                self.say("(Ctrl-D or /quit leaves)")
                continue
            except EOFError:
                break
            self.handle(line)
        self.leave()

    def leave(self) -> None:
        s = self.session
        if s.has_draft and s.journal is not None:
            where = s.output or s.journal.dir.name  # a draft without a file: its run id
            if s.output is None and self.saved_to is not None:
                self.say(f"last saved to {self.saved_to}")
            if s.journal.manifest.status == RunStatus.DONE:
                self.say(f"{where} is saved ({s.words:,} words); `lwz chat {where}` edits it again")
            else:
                self.say(
                    f"the draft ({s.words:,} words) is kept: `lwz chat {where}` or "
                    f"`lwz resume {where}` goes on with it"
                )
        s.close()

    def handle(self, line: str) -> None:
        """One line of input: a command, guidance, or a new request."""
        if not line.strip():
            return
        try:
            parsed = commands.parse(line)
            if parsed is None:
                self._plain(line.strip())
            else:
                getattr(self, f"do_{parsed.name}")(parsed.args)
        except Interrupted as exc:
            self.say(
                f"lwz: {exc.message}; /continue goes on"
                if "section" not in exc.message and not isinstance(exc, WaitStopped)
                else f"lwz: {exc.message}"
            )
        except LwzError as exc:
            self.say(f"lwz: error: {exc}")
        except KeyboardInterrupt:  # a second Ctrl-C: the last checkpoint stands
            self.say("lwz: interrupted; the draft is as last saved")
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            self.say(
                f"lwz: error: cannot write{where}: {exc.strerror or exc}; free space or "
                "fix the folder, then try again"
            )

    def _plain(self, text: str) -> None:
        if self.session.has_draft:
            self.session.notes = text
            self.say("noted: the next /continue or /redo follows it")
        else:
            self.do_write(text)

    def _generate(self, step: Callable[[Emit], None]) -> None:
        """Run a generating step under the live view; Ctrl-C stops it."""
        self.session.cancel.clear()  # a Ctrl-C from here on (model load included) stops the step
        view = self.view_factory()
        if isinstance(view, LiveView) and self.session.output is None:
            view.no_output = UNSAVED  # not "stdout": a chat prints nothing of it
        try:
            with interrupt_sets(self.session.cancel):
                step(self._announced(view))
        finally:
            view.close()
        self.say(self._summary())

    def _announced(self, view: View) -> Emit:
        """`view`, told first what the step writes: chat steps emit no start event, so
        without it the view would know no model, target, language or file."""
        told = False

        def emit(event: Event) -> None:
            nonlocal told
            prepared = self.session.prepared  # a /write prepares its run before any event
            if not told and prepared is not None:
                told = True
                run = self.session.journal.dir.name if self.session.journal else None
                view(start_event(prepared, run_id=run))
            view(event)

        return emit

    def _summary(self) -> str:
        s = self.session
        target = f" of {s.target:,}" if s.target else ""
        pending = len(s.sections) - s.written
        more = f"; {pending} planned section(s) left: /continue" if pending else ""
        return f"{s.words:,}{target} words in {s.written} section(s){more}"

    # -- commands ----------------------------------------------------------------------------

    def do_write(self, args: str) -> None:
        if not args:
            raise UsageError("/write needs a request", hint="e.g. /write a 2000-word guide to tea")
        replace = False
        if self.session.existing_draft() is not None:
            if not self.confirm(f"replace the draft in {self.session.output}?"):
                self.say("kept the draft; /open it or /save it elsewhere first")
                return
            replace = True
        self.saved_to = self._saved_text = None  # a new document: the last /save was another's
        self._generate(lambda emit: self.session.write(args, emit, replace_existing=replace))

    def do_plan(self, args: str) -> None:
        self.session.need_draft()
        if args == "edit":
            self._edit_plan()
        elif args:
            raise UsageError(
                f"/plan takes no argument but 'edit', not {args!r}",
                hint="/plan shows the outline; /plan edit edits it",
            )
        else:
            self.say(self.session.plan_text())

    def do_outline(self, args: str) -> None:
        if not args:
            raise UsageError(
                "/outline needs a file", hint="usage: /outline FILE (`lwz plan` writes one)"
            )
        plan = read_outline(Path(args).expanduser())
        if self.session.run is not None:
            self.session.use_outline(plan)
            self.say(self.session.plan_text())
            return
        replace = False
        if self.session.existing_draft() is not None:
            if not self.confirm(f"replace the draft in {self.session.output}?"):
                self.say("kept the draft; /open it or /save it elsewhere first")
                return
            replace = True
        self.saved_to = self._saved_text = None
        prompt = outline_prompt(plan)
        self._generate(
            lambda emit: self.session.write(prompt, emit, replace_existing=replace, outline=plan)
        )

    def _edit_plan(self) -> None:
        text = self._in_editor(self.session.plan_text(), "outline.md", "the outline")
        if text == self.session.plan_text():
            self.say("the outline is unchanged")
            return
        self.session.edit_plan(text)
        self.say(self.session.plan_text())

    def _in_editor(self, text: str, name: str, what: str) -> str:
        """`text` as the author leaves it after $VISUAL/$EDITOR (vi) edits it."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_text(text, encoding="utf-8")
            try:
                code = subprocess.call([*shlex.split(editor), str(path)])
            except OSError as exc:
                raise UsageError(
                    f"cannot start the editor {editor!r}: {exc.strerror}",
                    hint="set EDITOR to your editor, e.g. EDITOR=nano",
                ) from None
            if code != 0:
                raise UsageError(f"the editor exited with status {code}; {what} is unchanged")
            return path.read_text(encoding="utf-8")

    def do_memory(self, args: str) -> None:
        self.session.need_draft()
        if args in ("on", "off"):
            self.session.set_memory(args == "on")
            self.say(
                "memory on: each section's facts go to the later ones"
                if args == "on"
                else "memory off"
            )
            return
        if args not in ("", "edit"):
            raise UsageError(
                f"/memory takes edit, on or off, not {args!r}",
                hint="/memory shows it; /memory edit edits it",
            )
        text = self.session.memory_text()
        if not self.session.run or not self.session.run.memory_on:
            self.say(
                "memory: off for this draft (it fits the model's window, so each section "
                "reads the whole text); /memory on keeps one"
            )
            return
        if args == "edit":
            edited = self._in_editor(text, "memory.md", "the memory")
            if edited == text:
                self.say("the memory is unchanged")
                return
            self.session.edit_memory(edited)
            text = self.session.memory_text()
        self.say(text.rstrip("\n") or "memory: nothing noted yet (a note follows each section)")

    def do_show(self, args: str) -> None:
        self.session.need_draft()
        if args:
            number = commands.int_arg(args, "the section number", commands.usage("show"))
            self.say(self.session.section_text(number))
        else:
            self.say(self.session.document() or "(nothing written yet)")

    def do_redo(self, args: str) -> None:
        head, notes = [*args.split(None, 1), ""][:2]
        if not head:
            raise UsageError(
                "/redo needs a section number", hint=f"usage: {commands.usage('redo')}"
            )
        number = commands.int_arg(head, "the section number", commands.usage("redo"))
        self.session.written_index(number)
        self._generate(lambda emit: self.session.redo(number, emit, notes=notes.strip() or None))

    def do_expand(self, args: str) -> None:
        parts = args.split()
        if len(parts) != 2:
            raise UsageError(
                "/expand needs a section number and a length",
                hint=f"usage: {commands.usage('expand')}, e.g. /expand 2 800",
            )
        number = commands.int_arg(parts[0], "the section number", commands.usage("expand"))
        words = commands.int_arg(parts[1], "WORDS", commands.usage("expand"))
        self._generate(lambda emit: self.session.expand(number, words, emit))

    def do_continue(self, args: str) -> None:
        words = commands.int_arg(args, "WORDS", commands.usage("continue")) if args else None
        self.session.need_draft()
        self._generate(lambda emit: self.session.continue_(emit, words=words))

    def do_words(self, args: str) -> None:
        if not args:
            target = f"{self.session.target:,} words" if self.session.target else "none"
            self.say(f"target: {target}")
            return
        words = commands.int_arg(args, "the target", commands.usage("words"))
        if not self.session.has_plan:
            check_words(words, "/words")
            self.session.settings.words = words
            self.say(f"target for the next draft: {words:,} words")
            return
        self.session.set_words(words)
        self.say(f"target: {self.session.target:,} words; unwritten sections rebalanced")

    def do_brief(self, args: str) -> None:
        settings = self.session.settings
        if not args:
            self.say(f"brief: {settings.brief}" if settings.brief else "brief: none")
            return
        brief = None if args.lower() == "off" else read_brief(args, what="/brief")
        self.session.set_guidance(brief=brief, style=settings.style)
        self.say("brief set: every prompt carries it" if brief else "brief: none")

    def do_style(self, args: str) -> None:
        settings = self.session.settings
        if not args:
            words = count_words(settings.style) if settings.style else 0
            self.say(f"style sample: {words:,} words" if settings.style else "style sample: none")
            return
        path = Path(args).expanduser()
        style = None if args.lower() == "off" else read_style(path, what="/style")
        self.session.set_guidance(brief=settings.brief, style=style)
        if style:
            self.say(f"style sample set: {count_words(style):,} words of {args}")
        else:
            self.say("style sample: none")

    def do_source(self, args: str) -> None:
        verb, _, path = args.strip().partition(" ")
        sources = list(self.session.settings.sources)
        path = path.strip()
        if verb in ("", "list"):
            if not sources:
                self.say("sources: none (/source add PATH writes from files)")
                return
            summary = self.session.sources_summary()
            self.say("sources: " + ", ".join(sources) + (f" ({summary})" if summary else ""))
            return
        if verb not in ("add", "rm") or not path:
            raise UsageError(
                f"/source {args.strip()} is not a source command", hint=commands.usage("source")
            )
        if verb == "add":
            if path in sources:
                self.say(f"{path} is already a source")
                return
            sources.append(path)
        else:
            if path not in sources:
                raise UsageError(f"{path} is not a source", hint="/source list shows them")
            sources.remove(path)
        for warning in self.session.set_sources(sources):
            self.say(f"warning: {warning}")
        summary = self.session.sources_summary()
        done = f"added {path}" if verb == "add" else f"removed {path}"
        self.say(f"{done}; sources: {len(sources)}" + (f" ({summary})" if summary else ""))

    def do_model(self, args: str) -> None:
        if not args:
            self.say(f"model: {self.session.model_name}")
            return
        name = self.session.set_model(args)
        self.say(
            f"model: {name}"
            + (
                ""
                if not self.session.has_draft
                else " (the draft's next sections are written with it)"
            )
        )

    def do_undo(self, args: str) -> None:
        self.session.need_draft()
        label = self.session.undo()
        self.say(f"undid {label}; {self._summary()}")

    def do_save(self, args: str) -> None:
        path = Path(args).expanduser() if args else None
        if path is None and self.session.output is None:
            path = self.saved_to  # the chat has no file: the last /save target is its file
        # a file the chat did not write is never replaced silently (as `lwz write`)
        replacing = path is not None and path.is_file() and not self._is_own(path)
        if replacing and not self.confirm(f"{path} exists. Replace it?"):
            self.say(f"kept {path}; /save another path")
            return
        saved = self.session.save(path)
        if self.session.output is None or saved.resolve() != self.session.output.resolve():
            self.saved_to, self._saved_text = saved, self._text_to_save()
        self.say(f"saved {saved} ({self.session.words:,} words)")

    def do_export(self, args: str) -> None:
        """A converted copy: never the chat's file, so later /save calls are unchanged."""
        if not args:
            raise UsageError("/export needs a path", hint="e.g. /export guide.docx")
        path = Path(args).expanduser()
        fmt = require_converter(path)
        if fmt is None:
            raise UsageError(
                f"/export {args}: '{path.suffix or path.name}' is not an export format",
                hint="use .docx, .odt, .epub, .pdf or .html (/save writes Markdown)",
            )
        if path.is_file() and not self.confirm(f"{path} exists. Replace it?"):
            self.say(f"kept {path}; /export another path")
            return
        self.session.save(path)
        self.say(f"exported {path} ({fmt.name}, {self.session.words:,} words)")

    def _is_own(self, path: Path) -> bool:
        """The chat's file, or what it last saved: replaced without asking."""
        own = (self.session.output, self.saved_to)
        return any(o is not None and path.resolve() == o.resolve() for o in own)

    def do_open(self, args: str) -> None:
        if not args:
            raise UsageError("/open needs a document path or run id", hint="/runs lists them")
        self.session.open(args, self.view_factory_quiet())
        self.saved_to = self._saved_text = None
        self.say(f"opened {args}: {self._summary()}")

    def view_factory_quiet(self) -> Emit:
        """Nothing of the step is shown but why it waits (another lwz runs a model)."""
        return lambda event: (
            self.say(f"lwz: {event.message}") if isinstance(event, WaitingEvent) else None
        )

    def do_runs(self, args: str) -> None:
        rows = run_rows()
        if not rows:
            self.say("no runs yet")
            return
        for row in rows[:20]:
            target = f"/{row['target_words']:,}" if row.get("target_words") else ""
            where = row["output"] or row["id"]  # /open takes the id
            if not row["output"] and row["status"] != "done":
                where += f" {UNSAVED}"
            self.say(f"  {row['status']:<11} {row['words']:>6,}{target:<8} words  {where}")

    def do_stats(self, args: str) -> None:
        st = self.session.stats
        if not st.action:
            self.say("nothing generated yet")
            return
        self.say(
            f"last step: {st.action}, {st.seconds:.1f} s\n"
            f"  prompt: {st.prompt_tokens:,} tokens, {st.reused:,} reused from the KV cache, "
            f"{st.prefilled:,} prefilled\n"
            f"  generated: {st.generated:,} tokens at {st.tokens_per_second:.1f} tok/s"
        )

    def do_help(self, args: str) -> None:
        self.say(commands.help_text())

    def do_quit(self, args: str) -> None:
        self.running = False
