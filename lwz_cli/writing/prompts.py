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

from lwz_cli.writing.length import has_cjk

LWZ = "longwriter-zero"
CHAT = "chat"
ANSWER_CLOSE = "</answer>"


@lru_cache(maxsize=1)
def lwz_protocol() -> dict:
    text = resources.files("lwz_cli").joinpath("data/longwriter-zero-prompt.json").read_text("utf-8")
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


def question_with_target(request: str, target: int | None, stated: int | None) -> str:
    """The request, plus the target when --words changed or supplied it."""
    if target is None or target == stated:
        return request
    if language_of(request) == "zh":
        return f"{request}\n（篇幅要求：约{target}字）"
    return f"{request}\n(Length: about {target} words.)"


def longwriter_zero_prompt(request: str, target: int | None, stated: int | None) -> Prompt:
    spec = lwz_protocol()
    language = language_of(request)
    question = question_with_target(request, target, stated)
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
        {"role": "user", "content": question_with_target(request, target, stated)},
    ]
    stop = [ANSWER_CLOSE]
    if template:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        formatter = Jinja2ChatFormatter(
            template=template, eos_token=eos_token, bos_token=bos_token,
            add_generation_prompt=True,
        )
        rendered = formatter(messages=messages)
        text = rendered.prompt
        extra = rendered.stop
        stop += [extra] if isinstance(extra, str) else list(extra or [])
    else:  # no template in the GGUF: a neutral ChatML-style layout
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        text += "<|im_start|>assistant\n"
        stop.append("<|im_end|>")
    add_bos = not (bos_token and text.startswith(bos_token))
    return Prompt(text=text, stop=tuple(dict.fromkeys(stop)), protocol=CHAT,
                  language=language, add_bos=add_bos)
