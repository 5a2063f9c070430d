"""Fuzz: the config file (`config.yaml`, any bytes) and settings' values (the file's
YAML values and LWZ_* environment strings).

Reading never raises anything but lwz's UsageError, one line; a value either
converts to its setting's type or is refused.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from lwz_cli import config
from lwz_cli.errors import UsageError

KEYS = st.one_of(st.sampled_from(sorted(config.SETTINGS)), st.text(max_size=8))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**320),  # beyond a float
    st.floats(),
    st.text(max_size=12),
    st.dates(),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)  # fmt: skip
ATOMS = st.sampled_from(
    [
        "model: ", "words: ", "temperature: ", "kv_snapshot: ", "endpoint: ", "\n", " ", ": ",
        "- ", "[", "]", "{", "}", "&a ", "*a", "!!python/name:os.system ", "!custom ", "!!binary ",
        "!!str ", "!!int ", "'", '"', "#", "---\n", "...\n", "2020-02-30", "2020-01-01 10:00:00 +99:00",
        "1" * 5000, "1" * 400, ".nan", ".inf", "-.inf", "0x1F", "0o17", "1_000", "1:30", "yes",
        "~", "null", "\t", "\x00", "\ufeff", "é",
    ]
)  # fmt: skip
YAMLISH = st.lists(st.one_of(ATOMS, st.text(max_size=6)), max_size=30).map("".join)


def read(data: bytes) -> None:
    """`read_file` and `load_file` on `data`: a result, or one UsageError line."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_bytes(data)
        for reader in (config.read_file, config.load_file):
            try:
                found = reader(path)
            except UsageError as exc:
                assert "\n" not in str(exc), str(exc)
                continue
            for problem in getattr(found, "problems", []):
                assert "\n" not in str(problem)


@given(st.one_of(YAMLISH.map(str.encode), st.binary(max_size=200)))
# each of these raised other than UsageError (found by this test)
@example(b"\xff")  # not UTF-8: UnicodeDecodeError
@example(b"model: 2020-02-30")  # an impossible date: ValueError from yaml's constructor
@example(b"words: " + b"1" * 5000)  # more digits than int() converts: ValueError
@example(b"model: !!python/name:os.system x")  # a tag safe_load refuses: ConstructorError
@example(b"temperature: " + b"1" * 400)  # an int past float's range: OverflowError
@example(b"model: " + b"[" * 1000)  # deep nesting: RecursionError in yaml's composer
def test_any_config_file_reads_or_is_refused_in_one_line(data):
    read(data)


@given(st.dictionaries(KEYS, VALUES, max_size=5))
def test_any_yaml_mapping_reads_or_is_refused_in_one_line(values):
    read(yaml.safe_dump(values, allow_unicode=True).encode())


@given(st.sampled_from(sorted(config.SETTINGS)), st.one_of(VALUES, st.text()))
@example("snapshot_max_gb", 10**400)
@example("temperature", "1" * 400)  # an environment string: float() gives inf, not an error
def test_any_value_converts_or_is_refused(key, value):
    setting = config.SETTINGS[key]
    try:
        converted = config.convert(setting, value, "$LWZ_X")
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assert converted is None or isinstance(converted, setting.kind)


def test_values_yaml_cannot_build_are_shown_and_mended_with_lwz_config(lwz, tmp_path):
    """An impossible date and a python tag: `lwz config show` names them (it crashed with
    ValueError and ConstructorError), and `lwz config unset` mends the file."""
    path = tmp_path / "lwz-home" / "config" / "config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("model: 2020-02-30\nendpoint: !!python/name:os.system x\nwords: 300\n")
    shown = lwz("config", "show")
    assert shown.returncode == 0
    assert f"{path}:1:8: model: not a valid value (day is out of range for month)" in shown.stderr
    assert "endpoint: not a valid value (could not determine a constructor" in shown.stderr
    assert lwz("write", "x").returncode == 2
    assert lwz("config", "unset", "model").returncode == 0
    assert lwz("config", "unset", "endpoint").returncode == 0
    assert lwz("config", "show").stderr == ""
    assert lwz("config", "get", "words").stdout.strip() == "300"


def test_a_config_file_that_is_not_utf8_is_one_line(lwz, tmp_path):
    path = tmp_path / "lwz-home" / "config" / "config.yaml"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"model: tiny\nwords: \xff\n")
    result = lwz("config", "show")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"lwz: error: {path}: not UTF-8 text (byte 19); save it as UTF-8"
    ]
