"""One source per fact: the options the run commands share, the settings table's
defaults, and the per-protocol profiles the budget and strategy code use. Fast: no model."""

from __future__ import annotations

import pytest
import typer.main

from lwz_cli.cli import app
from lwz_cli.config import COMMANDS_USING, SETTINGS, default, env_name
from lwz_cli.errors import UsageError
from lwz_cli.profiles import CHAT, LWZ, PROFILES, profile
from lwz_cli.strategy import STRATEGY_NAMES, Strategy, check_strategy
from lwz_cli.tokens import MARGIN, TOKENS_PER_WORD, document_tokens
from lwz_cli.writing import budget, prompts
from lwz_cli.writing.session import choose_strategy

RUN_COMMANDS = ("write", "resume", "chat", "batch")
# options each command must declare exactly alike (flags, env var, metavar, help, default)
IDENTICAL = {
    "threads": RUN_COMMANDS,
    "verbose": ("write", "resume", "chat"),
    "snapshot_max_gb": ("write", "resume"),
    "json_mode": ("write", "resume"),
    "quiet": ("write", "resume"),
    "model": ("write", "chat"),
    "temperature": ("write", "chat"),
    "top_p": ("write", "chat"),
    "seed": ("write", "chat"),
    "gpu_layers": ("chat", "batch"),
}


def params(command: str) -> dict:
    click_command = typer.main.get_command(app).commands[command]
    return {p.name: p for p in click_command.params}


def declaration(param) -> tuple:
    return (
        param.opts,
        param.secondary_opts,
        param.envvar,
        param.metavar,
        param.help,
        param.default,
        param.show_default,
    )


@pytest.mark.parametrize("name", sorted(IDENTICAL))
def test_shared_options_are_declared_alike(name):
    declared = {command: declaration(params(command)[name]) for command in IDENTICAL[name]}
    first = next(iter(declared.values()))
    assert all(d == first for d in declared.values()), declared


def test_an_option_has_the_same_flags_on_every_command_that_takes_it():
    seen: dict[str, tuple] = {}
    for command in RUN_COMMANDS:
        for name, param in params(command).items():
            flags = (param.opts, param.secondary_opts, param.metavar)
            assert seen.setdefault(name, flags) == flags, (command, name)


def test_every_setting_a_command_takes_from_config_is_one_of_its_options():
    for command, keys in COMMANDS_USING.items():
        declared = params(command)
        for key in keys:
            assert key in declared, f"config key {key} is read for `lwz {command}`: no such option"
            envvar = declared[key].envvar
            assert envvar in (env_name(key), None), (command, key, envvar)


@pytest.mark.parametrize(
    "key", ["strategy", "temperature", "top_p", "kv_snapshot", "snapshot_max_gb"]
)
def test_option_defaults_are_the_settings_table_defaults(key):
    for command in RUN_COMMANDS:
        param = params(command).get(key)
        if param is not None:
            assert param.default == SETTINGS[key].default, (command, key)


def test_strategy_names_are_the_enum():
    assert STRATEGY_NAMES == ("auto", "single", "planned")
    assert SETTINGS["strategy"].choices == STRATEGY_NAMES
    assert params("write")["strategy"].metavar == "auto|single|planned"
    assert check_strategy("planned") is Strategy.PLANNED
    with pytest.raises(UsageError) as caught:
        check_strategy("fast")
    assert str(caught.value) == "unknown --strategy 'fast'; use auto, single or planned"


def test_sampling_defaults_and_new_tokens_are_the_model_cards():
    card = prompts.lwz_protocol()["sampling"]
    assert (default("temperature"), default("top_p")) == (card["temperature"], card["top_p"])
    assert profile(LWZ).default_new_tokens == card["max_tokens"]


@pytest.mark.parametrize("protocol", [LWZ, CHAT])
def test_the_budget_reads_the_profile(protocol):
    p = PROFILES[protocol]
    assert document_tokens(None, "en", protocol) == p.default_new_tokens
    assert document_tokens(1000, "en", protocol) == p.think_tokens + int(
        1000 * TOKENS_PER_WORD["en"] * MARGIN
    )
    planned = budget.plan_planned(
        prompt_tokens=100, target_words=1000, language="en", protocol=protocol, n_ctx_train=32_768
    )
    assert planned.n_ctx == p.planned_ctx
    assert planned.max_tokens == planned.needed_tokens + p.plan_tokens + 512


@pytest.mark.parametrize("lwz", [True, False])
def test_auto_switches_to_planned_past_the_one_pass_reach(lwz):
    reach = PROFILES[LWZ if lwz else CHAT].single_pass_reach
    assert choose_strategy("auto", reach, lwz, None)[0] == Strategy.SINGLE
    assert choose_strategy("auto", reach + 1, lwz, None)[0] == Strategy.PLANNED
