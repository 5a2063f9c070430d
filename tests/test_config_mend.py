"""A config file a newcomer gets wrong: refused before it is written, reported with
where the bad value lives, and mended with `lwz config` itself (in-process, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture()
def config_file(tmp_path) -> Path:
    path = tmp_path / "lwz-home" / "config" / "config.yaml"
    path.parent.mkdir(parents=True)
    return path


def test_set_refuses_an_unknown_model_with_a_did_you_mean(lwz, config_file):
    result = lwz("config", "set", "model", "tinyy")
    assert result.returncode == 2
    assert "unknown model 'tinyy' (did you mean tiny?)" in result.stderr
    assert not config_file.exists()  # nothing written
    assert lwz("config", "set", "model", "nosuch").returncode == 2
    assert lwz("config", "set", "model", "longwriter-zero-32b:Q9").returncode == 2


def test_set_accepts_a_model_that_is_only_not_downloaded_yet(lwz):
    assert lwz("config", "set", "model", "longwriter-zero-32b:Q3_K_M").returncode == 0
    assert lwz("config", "set", "model", "org/Some-GGUF:Q4_K_M").returncode == 0
    assert lwz("config", "get", "model").stdout.strip() == "org/Some-GGUF:Q4_K_M"


def test_a_negative_value_reaches_the_validator(lwz):
    refused = lwz("config", "set", "words", "-5")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "lwz: error: lwz config set words: words must be at least 1, not '-5'"
    ]
    assert lwz("config", "set", "gpu_layers", "-1").returncode == 0  # -1 means all layers
    assert lwz("config", "get", "gpu_layers").stdout.strip() == "-1"


def test_a_write_with_a_bad_configured_model_names_the_file(lwz, config_file):
    config_file.write_text("model: nosuch\n")
    result = lwz("write", "a poem", "-o", "poem.md")
    assert result.returncode == 2
    assert "unknown model 'nosuch'" in result.stderr
    assert f"`model:` in {config_file}" in result.stderr
    # a name given on the command line is the user's own: no file is blamed
    flag = lwz("write", "a poem", "-o", "poem.md", "--model", "nosuch2")
    assert flag.returncode == 2 and "config.yaml" not in flag.stderr


def test_a_typo_in_the_file_is_shown_and_can_be_unset(lwz, config_file):
    config_file.write_text("model: tiny\nwrds: 300\nwords: lots\n")
    shown = lwz("config", "show", "--json")
    assert shown.returncode == 0
    assert "unknown key 'wrds' (did you mean 'words'?)" in shown.stderr
    assert "`lwz config unset wrds` removes it" in shown.stderr
    assert "words must be a whole number" in shown.stderr
    rows = {r["key"]: r["value"] for r in json.loads(shown.stdout)}
    assert rows["model"] == "tiny"  # the rest still shows

    assert lwz("write", "x").returncode == 2  # commands still refuse a broken file
    assert lwz("config", "unset", "wrds").returncode == 0
    assert lwz("config", "set", "words", "300").returncode == 0
    assert lwz("config", "show").stderr == ""
    assert "wrds" not in config_file.read_text() and "model: tiny" in config_file.read_text()


def test_doctor_checks_the_file_and_the_configured_model(lwz, config_file):
    config_file.write_text("model: nosuch\nwrds: 3\n")
    report = json.loads(lwz("doctor", "--json").stdout)
    checks = {(c["name"], c["status"]): c for c in report["checks"]}
    assert "unknown key 'wrds'" in checks[("config", "fail")]["detail"]
    assert "unknown model 'nosuch'" in checks[("model", "fail")]["detail"]
    assert report["ok"] is False

    config_file.write_text("model: tiny\n")
    report = json.loads(lwz("doctor", "--json").stdout)
    names = {c["name"]: c for c in report["checks"]}
    assert names["model"]["status"] == "ok" and "tiny" in names["model"]["detail"]
    assert "default model" not in names  # no word on LongWriter-Zero when tiny is set


@pytest.mark.parametrize(
    "words, offered",
    [
        ("lwz config set wo", ["words"]),
        ("lwz config unset endpoint", ["endpoint", "endpoint_model"]),
        ("lwz config get kv_", ["kv_type", "kv_snapshot"]),
        ("lwz config set strategy p", ["planned"]),
        ("lwz config set model ti", ["tiny"]),
    ],
)
def test_completion_offers_config_keys_and_values(lwz, words, offered):
    env = {
        "_LWZ_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    assert sorted(lwz(env=env).stdout.split()) == sorted(offered)
