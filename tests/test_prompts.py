import json
from pathlib import Path

from lwz_cli.writing import prompts

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "longwriter-zero-prompt.json"


def test_packaged_protocol_matches_the_model_card_copy():
    packaged = prompts.lwz_protocol()
    if SHARED.exists():  # the workspace copy this project was given
        assert packaged == json.loads(SHARED.read_text("utf-8"))
    assert packaged["stop"] == ["<|user|>", "<|endoftext|>", "</answer>"]


def test_english_prompt_is_verbatim():
    p = prompts.longwriter_zero_prompt("Write a 500-word story.", 500, 500)
    spec = prompts.lwz_protocol()
    assert p.text == spec["en"].replace("{question}", "Write a 500-word story.")
    assert p.text.endswith("  <|user|>: Write a 500-word story. <|assistant|>:")
    assert p.language == "en" and p.protocol == prompts.LWZ
    assert "</answer>" in p.stop


def test_chinese_request_uses_the_zh_prompt():
    p = prompts.longwriter_zero_prompt("写一篇3000字的报告", 3000, 3000)
    assert p.language == "zh"
    assert p.text.endswith(" <|用户|>: 写一篇3000字的报告 <|助手|>:")


def test_words_override_is_carried_in_the_prompt():
    p = prompts.longwriter_zero_prompt("Write a story.", 1200, None)
    assert "about 1200 words" in p.text
    zh = prompts.longwriter_zero_prompt("写一篇报告", 2000, None)
    assert "约2000字" in zh.text


def test_recognises_longwriter_zero_names():
    assert prompts.is_longwriter_zero("LongWriter Zero 32B")
    assert prompts.is_longwriter_zero(None, "THU-KEG_LongWriter-Zero-32B-Q4_K_M.gguf")
    assert not prompts.is_longwriter_zero("Smollm2 135M", "SmolLM2-135M-Instruct.Q4_1.gguf")


def test_chat_prompt_uses_the_model_template_and_asks_for_structure(tiny_path):
    from lwz_cli.models.gguf import read_gguf

    info = read_gguf(tiny_path)
    p = prompts.chat_prompt(
        "Write a 400-word post about tea.",
        400,
        400,
        template=info.chat_template,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
    )
    assert p.protocol == prompts.CHAT
    assert p.text.startswith("<|im_start|>system\n")
    assert p.text.endswith("<|im_start|>assistant\n")
    assert "<think></think>" in p.text and "about 400 words" in p.text
    assert "</answer>" in p.stop
