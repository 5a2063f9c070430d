"""Prompts: LongWriter-Zero's own raw-completion protocol, or a chat template.

LongWriter-Zero was trained with RL on one exact raw prompt (model card); it
is sent verbatim. Other models get their GGUF chat template and an
instruction asking for the same <think>/<answer> structure and the length.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, cast

from lwz_cli.profiles import CHAT, LWZ
from lwz_cli.writing.length import has_cjk

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

ANSWER_CLOSE = "</answer>"


@lru_cache(maxsize=1)
def lwz_protocol() -> dict:
    text = (
        resources.files("lwz_cli").joinpath("data/longwriter-zero-prompt.json").read_text("utf-8")
    )
    return json.loads(text)


def is_longwriter_zero(*names: str | None) -> bool:
    """Recognise LongWriter-Zero from GGUF `general.name`, file or repo names."""
    for name in names:
        if name and "longwriterzero" in re.sub(r"[^a-z0-9]", "", name.lower()):
            return True
    return False


def language_of(request: str) -> str:
    return "zh" if has_cjk(request) else "en"


@dataclass(frozen=True)
class Prompt:
    text: str
    stop: tuple[str, ...]
    protocol: str  # LWZ | CHAT
    language: str  # en | zh
    add_bos: bool = True


def question_with_target(
    request: str, target: int | None, stated: int | None, guidance: str = ""
) -> str:
    """The request, plus the target when --words changed or supplied it, then the
    author's brief and style block (`writing.brief.guidance_block`), if any."""
    question = request
    if target is not None and target != stated:
        if language_of(request) == "zh":
            question = f"{request}\n（篇幅要求：约{target}字）"
        else:
            question = f"{request}\n(Length: about {target} words.)"
    return f"{question}\n\n{guidance}" if guidance else question


def longwriter_zero_prompt(
    request: str, target: int | None, stated: int | None, guidance: str = ""
) -> Prompt:
    spec = lwz_protocol()
    language = language_of(request)
    question = question_with_target(request, target, stated, guidance)
    text = spec[language].replace("{question}", question)
    return Prompt(text=text, stop=tuple(spec["stop"]), protocol=LWZ, language=language)


CHAT_INSTRUCTION_EN = (
    "You are an expert writer. First plan the piece briefly inside <think></think>. "
    "Then write the complete document in Markdown, with a title and ## section headings, "
    "inside <answer></answer>.{length}"
)
CHAT_INSTRUCTION_ZH = (
    "你是一位专业作者。先在 <think></think> 中简要规划，"
    "然后在 <answer></answer> 中用 Markdown（标题和 ## 小节标题）写出完整的文章。{length}"
)


def chat_prompt(
    request: str,
    target: int | None,
    stated: int | None,
    *,
    template: str | None,
    bos_token: str = "",
    eos_token: str = "",
    guidance: str = "",
) -> Prompt:
    language = language_of(request)
    if language == "zh":
        length = f" 篇幅约{target}字。" if target else ""
        system = CHAT_INSTRUCTION_ZH.format(length=length)
    else:
        length = f" The document should be about {target} words long." if target else ""
        system = CHAT_INSTRUCTION_EN.format(length=length)
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": question_with_target(request, target, stated, guidance)},
    ]
    stop = [ANSWER_CLOSE]
    if template:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=eos_token,
            bos_token=bos_token,
            add_generation_prompt=True,
        )
        # our role/content dicts are what its message TypedDicts describe
        rendered = formatter(messages=cast("list[ChatCompletionRequestMessage]", messages))
        text = rendered.prompt
        extra = rendered.stop
        stop += [extra] if isinstance(extra, str) else list(extra or [])
    else:  # no template in the GGUF: a neutral ChatML-style layout
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        text += "<|im_start|>assistant\n"
        stop.append("<|im_end|>")
    add_bos = not (bos_token and text.startswith(bos_token))
    return Prompt(
        text=text,
        stop=tuple(dict.fromkeys(stop)),
        protocol=CHAT,
        language=language,
        add_bos=add_bos,
    )


PLANNED_SYSTEM = {
    "en": "You are an expert writer working on a long document one section at a time. "
    "Write in Markdown, in a consistent voice, without repeating yourself.",
    "zh": "你是一位专业作者，正在逐节撰写一篇长文。用 Markdown 写作，文风统一，不要重复。",
}


# --- Multi-turn conversations for the planned strategy ------------------------------
#
# Each section prompt must be an append-only extension of the previous one, so the
# KV cache keeps everything already read. `Conversation` gives the text of the first
# turn and of every later user turn, to be tokenized and appended after the model's
# own tokens (never re-tokenizing what came before).

_MARK_A, _MARK_U = "\x01LWZ-ASSISTANT\x01", "\x01LWZ-USER\x01"


class Conversation:
    def __init__(
        self,
        protocol: str,
        language: str,
        *,
        template: str | None = None,
        bos_token: str = "",
        eos_token: str = "",
        system: str | None = None,
    ):
        self.protocol = protocol
        self.language = language
        self.template = template
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.system = system
        self.stop: tuple[str, ...] = ()
        if protocol == LWZ:
            self.stop = tuple(lwz_protocol()["stop"])
            # sections skip the think phase: the plan already did that work
            self.assistant_prefix = " <think></think><answer>"
        else:
            self.assistant_prefix = ""
            self._turn_suffix = self._derive_turn_text()

    def _render(self, messages: list[dict[str, str]]) -> tuple[str, tuple[str, ...]]:
        if not self.template:
            text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
            return text + "<|im_start|>assistant\n", ("<|im_end|>",)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(
            template=self.template,
            eos_token=self.eos_token,
            bos_token=self.bos_token,
            add_generation_prompt=True,
        )
        rendered = formatter(messages=cast("list[ChatCompletionRequestMessage]", messages))
        stop = rendered.stop
        return rendered.prompt, tuple([stop] if isinstance(stop, str) else list(stop or []))

    def _messages(self, user: str) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, {"role": "user", "content": user}]

    def _derive_turn_text(self) -> str | None:
        """What a template puts between an assistant's text and the next user text,
        and after it: found by rendering marker strings."""
        first, stop = self._render(self._messages(_MARK_U))
        self.stop = tuple(dict.fromkeys((ANSWER_CLOSE, *stop)))
        both, _ = self._render(
            [
                *self._messages(_MARK_U),
                {"role": "assistant", "content": _MARK_A},
                {"role": "user", "content": _MARK_U},
            ]
        )
        if not both.startswith(first) or _MARK_A not in both:
            return None  # the template rewrites earlier turns: no append-only turns
        return both[both.index(_MARK_A) + len(_MARK_A) :]

    def first(self, user: str) -> str:
        if self.protocol == LWZ:
            return lwz_protocol()[self.language].replace("{question}", user)
        return self._render(self._messages(user))[0]

    def next_turn(self, user: str) -> str | None:
        """Text to append after the model's reply so the next user turn begins, or
        None when this template cannot be extended append-only."""
        if self.protocol == LWZ:
            tag_user, tag_assistant = (
                ("<|用户|>", "<|助手|>") if self.language == "zh" else ("<|user|>", "<|assistant|>")
            )
            return f"</answer> {tag_user}: {user} {tag_assistant}:" + self.assistant_prefix
        if self._turn_suffix is None:
            return None
        return self._turn_suffix.replace(_MARK_U, user)
