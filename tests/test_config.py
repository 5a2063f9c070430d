"""Settings: flags > LWZ_* env > config.yaml > defaults, for every setting."""

import json
import subprocess
import sys

import pytest

FILE_VALUES = {
    "strategy": "single",
    "words": 300,
    "temperature": 0.3,
    "top_p": 0.5,
    "seed": 11,
    "max_tokens": 7,
    "ctx": 1024,
    "threads": 1,
    "gpu_layers": 0,
    "kv_type": "q8_0",
    "kv_snapshot": False,
}
ENV_VALUES = {
    "LWZ_STRATEGY": "auto",
    "LWZ_WORDS": "200",
    "LWZ_TEMPERATURE": "0.4",
    "LWZ_TOP_P": "0.6",
    "LWZ_SEED": "12",
    "LWZ_MAX_TOKENS": "6",
    "LWZ_CTX": "1280",
    "LWZ_THREADS": "2",
    "LWZ_GPU_LAYERS": "0",
    "LWZ_KV_TYPE": "f16",
    "LWZ_KV_SNAPSHOT": "true",
}
FLAGS = [
    "--strategy",
    "single",
    "--words",
    "250",
    "--temperature",
    "0.5",
    "--top-p",
    "0.7",
    "--seed",
    "13",
    "--max-tokens",
    "5",
    "--ctx",
    "1536",
    "--threads",
    "1",
    "--kv-type",
    "q8_0",
    "--no-kv-snapshot",
]


def start_event(env, *flags):
    result = subprocess.run(
        [sys.executable, "-m", "lwz_cli", "write", "Write a note about rain.", "--json", *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    event = json.loads(result.stdout.splitlines()[0])
    return {
        "strategy": event["strategy"],
        "words": event["target_words"],
        "temperature": event["temperature"],
        "top_p": event["top_p"],
        "seed": event["seed"],
        "max_tokens": event["max_tokens"],
        "ctx": event["n_ctx"],
        "threads": event["threads"],
        "kv_type": event["kv_type"],
        "kv_snapshot": event["kv_snapshot"],
        "model": event["model"],
    }


@pytest.fixture()
def config_env(lwz_env, tmp_path):
    import yaml

    config = tmp_path / "lwz-home" / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(yaml.safe_dump({"model": "tiny", **FILE_VALUES}))
    return lwz_env


@pytest.mark.slow
def test_each_layer_overrides_the_one_below(lwz_env, config_env, tmp_path):
    defaults = start_event(
        dict(lwz_env, LWZ_MODEL="tiny", LWZ_HOME=str(tmp_path / "no-config")),
        "--max-tokens",
        "5",
        "--ctx",
        "1024",
    )
    assert defaults["temperature"] == 0.6 and defaults["top_p"] == 0.95 and defaults["seed"] is None
    assert (
        defaults["words"] is None
        and defaults["kv_snapshot"] is True
        and defaults["kv_type"] == "f16"
    )

    from_file = start_event(config_env)
    assert from_file["model"] == "tiny"
    assert (
        from_file["strategy"],
        from_file["words"],
        from_file["temperature"],
        from_file["top_p"],
        from_file["seed"],
        from_file["max_tokens"],
        from_file["ctx"],
        from_file["threads"],
        from_file["kv_type"],
        from_file["kv_snapshot"],
    ) == ("single", 300, 0.3, 0.5, 11, 7, 1024, 1, "q8_0", False)

    from_env = start_event(dict(config_env, **ENV_VALUES))
    assert (
        from_env["words"],
        from_env["temperature"],
        from_env["top_p"],
        from_env["seed"],
        from_env["max_tokens"],
        from_env["ctx"],
        from_env["threads"],
        from_env["kv_type"],
        from_env["kv_snapshot"],
    ) == (200, 0.4, 0.6, 12, 6, 1280, 2, "f16", True)
    assert from_env["strategy"] == "single"  # auto picks single for 200 words

    from_flags = start_event(dict(config_env, **ENV_VALUES), *FLAGS)
    assert (
        from_flags["strategy"],
        from_flags["words"],
        from_flags["temperature"],
        from_flags["top_p"],
        from_flags["seed"],
        from_flags["max_tokens"],
        from_flags["ctx"],
        from_flags["threads"],
        from_flags["kv_type"],
        from_flags["kv_snapshot"],
    ) == ("single", 250, 0.5, 0.7, 13, 5, 1536, 1, "q8_0", False)


def test_show_marks_where_each_value_came_from(lwz, config_env):
    rows = {
        r["key"]: r
        for r in json.loads(lwz("config", "show", "--json", env={"LWZ_SEED": "99"}).stdout)
    }
    assert rows["seed"]["value"] == 99 and rows["seed"]["source"] == "env LWZ_SEED"
    assert rows["words"]["value"] == 300 and rows["words"]["source"].startswith("file ")
    assert rows["snapshot_max_gb"]["source"] == "default"


def test_set_get_unset(lwz):
    assert lwz("config", "set", "words", "1500").returncode == 0
    assert lwz("config", "get", "words").stdout.strip() == "1500"
    bad = lwz("config", "set", "words", "many")
    assert bad.returncode == 2 and "whole number" in bad.stderr
    unknown = lwz("config", "set", "wrods", "5")
    assert unknown.returncode == 2 and "did you mean 'words'" in unknown.stderr
    assert lwz("config", "unset", "words").returncode == 0
    assert lwz("config", "get", "words").stdout.strip() == ""


@pytest.mark.parametrize(
    "text, where, needle",
    [
        ("model: tiny\nmodle: x\n", ":2:1:", "unknown key 'modle' (did you mean 'model'?)"),
        ("words: lots\n", ":1:8:", "words must be a whole number"),
        ("temperature: [1, 2]\n", ":1:14:", "must be a single value"),
        ("kv_type: q5\n", ":1:10:", "kv_type must be one of f16, q8_0, q4_0"),
        ("model: tiny\n  bad: indent: here\n", ":2:", "not valid YAML"),
        ("- just\n- a list\n", ":1:1:", "must be a mapping"),
    ],
)
def test_invalid_config_is_refused_with_its_line(lwz, lwz_env, tmp_path, text, where, needle):
    config = tmp_path / "lwz-home" / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(text)
    result = lwz("write", "x", "-m", "tiny")
    assert result.returncode == 2
    assert where in result.stderr and needle in result.stderr
    assert "Traceback" not in result.stderr
    assert lwz("config", "path").returncode == 0  # the command that helps fix it still works


def test_completion_of_models_and_runs(lwz):
    env = {
        "_LWZ_COMPLETE": "complete_bash",
        "COMP_WORDS": "lwz write x --model ti",
        "COMP_CWORD": "4",
    }
    assert "tiny" in lwz(env=env).stdout.split()
    env.update(COMP_WORDS="lwz write x --model longwriter-zero-32b:Q8")
    assert lwz(env=env).stdout.split() == ["longwriter-zero-32b:Q8_0"]


@pytest.mark.slow
def test_completion_through_the_real_entry_point(lwz_env):
    env = dict(
        lwz_env, _LWZ_COMPLETE="complete_bash", COMP_WORDS="lwz write x --model ti", COMP_CWORD="4"
    )
    out = subprocess.run([sys.executable, "-m", "lwz_cli"], env=env, capture_output=True, text=True)
    assert "tiny" in out.stdout.split()
