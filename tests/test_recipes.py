"""Recipes (lwz batch): validation with FILE:LINE:COL, expansion, output-path safety.

Pure library tests: no model is loaded.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from lwz_cli.errors import EXIT_USAGE, UsageError
from lwz_cli.recipes import Job, Recipe, RecipeError, load_recipe, load_recipes, parse_vars, select

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
name: espresso-guides
model: longwriter-zero-32b
strategy: auto
words: 3000
params: {temperature: 0.6, seed: 7}
prompt: "Write a {words}-word guide to {topic} for {audience}."
output: "out/{topic}-{audience}.md"
items:
  - {topic: grinders}
  - {topic: milk steaming, words: 1500}
matrix:
  audience: [beginners, baristas]
"""


def write(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path, **kwargs) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, **kwargs)
    assert caught.value.exit_code == EXIT_USAGE
    assert [str(p) for p in caught.value.problems] == [
        f"{p.file}:{p.line}:{p.column}: {p.message}" for p in caught.value.problems
    ]
    return [str(p) for p in caught.value.problems]


def only_problem(path: Path, line: int, column: int, **kwargs) -> str:
    """The single problem's message, after checking it starts with FILE:LINE:COL:."""
    found = problems(path, **kwargs)
    assert len(found) == 1, found
    prefix = f"{path}:{line}:{column}: "
    assert found[0].startswith(prefix), (found[0], prefix)
    return found[0][len(prefix) :]


# -- validation: each kind of bad recipe, with its position ------------------------------


def test_unknown_key_says_did_you_mean(tmp_path):
    path = write(tmp_path, GOOD.replace("prompt:", "promt:"))
    # one line for the typo, not a second one for the missing prompt
    assert only_problem(path, 6, 1) == "unknown key 'promt' (did you mean 'prompt'?)"
    path = write(tmp_path, GOOD.replace("prompt:", "text:"))
    assert problems(path) == [
        f"{path}:1:1: missing required key 'prompt'",
        f"{path}:6:1: unknown key 'text'",
    ]


def test_unknown_params_key(tmp_path):
    path = write(tmp_path, GOOD.replace("seed: 7", "sed: 7"))
    assert only_problem(path, 5, 28) == "unknown params key 'sed' (did you mean 'seed'?)"


@pytest.mark.parametrize(
    "line_text, line, column, message",
    [
        ("words: many", 4, 8, "words must be a whole number, not 'many'"),
        ("words: 2.5", 4, 8, "words must be a whole number, not 2.5"),
        ("words: true", 4, 8, "words must be a whole number, not true"),
        ("words: [1, 2]", 4, 8, "words must be a single value, not a list"),
        ("model: 32", 2, 8, "model must be text, not 32"),
        ("params: {temperature: hot}", 5, 23, "params temperature must be a number, not 'hot'"),
        ("params: {top_p: 1.5}", 5, 17, "params top_p must be between 0 and 1, not 1.5"),
        ("params: {top_k: 2.5}", 5, 17, "params top_k must be a whole number, not 2.5"),
        ("params: [0.6]", 5, 9, "params must be a mapping (key: value)"),
    ],
)
def test_wrong_types(tmp_path, line_text, line, column, message):
    key = line_text.split(":")[0]
    lines = [line_text if row.startswith(key + ":") else row for row in GOOD.splitlines()]
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert only_problem(path, line, column) == message


def test_missing_required_keys_point_at_the_top(tmp_path):
    path = write(tmp_path, "# a comment first\nwords: 10\n")
    found = problems(path)
    assert found == [
        f"{path}:2:1: missing required key 'name'",
        f"{path}:2:1: missing required key 'prompt'",
        f"{path}:2:1: missing required key 'output'",
    ]


def test_bad_strategy(tmp_path):
    path = write(tmp_path, GOOD.replace("strategy: auto", "strategy: fast"))
    assert only_problem(path, 3, 11) == "strategy must be one of auto, single, planned, not 'fast'"


def test_bad_item_strategy_names_the_item(tmp_path):
    path = write(tmp_path, GOOD.replace("{topic: grinders}", "{topic: grinders, strategy: x}"))
    assert only_problem(path, 9, 33).startswith("item 1 strategy must be one of")


@pytest.mark.parametrize(
    "words, message",
    [
        ("0", "words must be between 1 and 200000, not 0"),
        ("-5", "words must be between 1 and 200000, not -5"),
        ("200001", "words must be between 1 and 200000, not 200001"),
    ],
)
def test_non_positive_or_huge_words(tmp_path, words, message):
    path = write(tmp_path, GOOD.replace("words: 3000", f"words: {words}"))
    assert only_problem(path, 4, 8) == message


def test_item_words_checked_too(tmp_path):
    path = write(tmp_path, GOOD.replace("words: 1500", "words: 0"))
    assert only_problem(path, 10, 35) == "item 2 words must be between 1 and 200000, not 0"


def test_template_variable_without_value_names_the_item(tmp_path):
    text = GOOD.replace("- {topic: grinders}", "- {subject: grinders}")
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:6:9: prompt uses {{topic}}, which has no value in item 1 at line 9",
        f"{path}:7:9: output uses {{topic}}, which has no value in item 1 at line 9",
    ]
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    err = caught.value
    assert "or pass --var topic=VALUE" in err.message  # several problems: each line has its hint


def test_words_variable_without_a_target(tmp_path):
    path = write(tmp_path, GOOD.replace("words: 3000\n", "").replace(", words: 1500", ""))
    assert only_problem(path, 5, 9) == (
        "prompt uses {words} but item 1 at line 8 has no target (and 1 more item)"
    )


@pytest.mark.parametrize(
    "field",
    ["{topic.upper}", "{topic[0]}", "{topic!r}", "{topic:>10}", "{0}", "{}", "{audience!s:x}"],
)
def test_only_plain_format_fields(tmp_path, field):
    path = write(tmp_path, GOOD.replace("for {audience}.", f"for {{audience}} {field}."))
    message = only_problem(path, 6, 9)
    assert message.startswith("prompt: {") and message.endswith("is not a plain {name} field")


def test_unbalanced_braces(tmp_path):
    path = write(tmp_path, GOOD.replace("{topic}-{audience}.md", "{topic-{audience}.md"))
    assert only_problem(path, 7, 9).startswith("output: ")
    path = write(tmp_path, GOOD.replace("guide to {topic}", "guide to } {topic}"))
    assert only_problem(path, 6, 9) == "prompt: Single '}' encountered in format string"


def test_escaped_braces_are_literal(tmp_path):
    path = write(
        tmp_path, GOOD.replace("for {audience}.", 'for {audience}. Answer as {{\\"json\\": 1}}.')
    )
    job = load_recipe(path).jobs[0]
    assert job.prompt.endswith('for beginners. Answer as {"json": 1}.')


def test_duplicate_outputs_name_both_items(tmp_path):
    path = write(tmp_path, GOOD.replace('"out/{topic}-{audience}.md"', '"out/{audience}.md"'))
    found = problems(path)
    assert found[0] == (
        f"{path}:7:9: item 1 at line 9 (audience=beginners) and item 2 at line 10 "
        "(audience=beginners) both write out/beginners.md"
    )
    assert len(found) == 2  # and the baristas pair


def test_parent_escape_refused(tmp_path):
    path = write(tmp_path, GOOD.replace('"out/{topic}', '"out/../../{topic}'))
    message = only_problem(path, 7, 9)
    assert message.startswith(
        "output 'out/../../grinders-beginners.md' for item 1 at line 9 "
        "(audience=beginners) goes up with '..'"
    )
    assert message.endswith("(and 3 more jobs)")


def test_parent_escape_through_a_variable(tmp_path):
    path = write(tmp_path, GOOD.replace("{topic: grinders}", "{topic: ../grinders}"))
    assert "goes up with '..'" in only_problem(path, 7, 9)


@pytest.mark.parametrize(
    "output", ["/tmp/{topic}-{audience}.md", "C:\\\\x\\\\{topic}-{audience}.md"]
)
def test_absolute_output_refused(tmp_path, output):
    path = write(tmp_path, GOOD.replace('"out/{topic}-{audience}.md"', f'"{output}"'))
    assert "is an absolute path; it must stay in" in only_problem(path, 7, 9)


def test_absolute_out_dir_is_fine_but_absolute_output_is_not(tmp_path):
    path = write(tmp_path, GOOD)
    recipe = load_recipe(path, out_dir=tmp_path / "elsewhere")
    assert (
        recipe.jobs[0].output
        == (tmp_path / "elsewhere" / "out" / "grinders-beginners.md").resolve()
    )


def test_symlink_escape_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "out").symlink_to(outside, target_is_directory=True)
    path = write(folder, GOOD)
    message = only_problem(path, 7, 9)
    assert message.startswith(
        "output 'out/grinders-beginners.md' for item 1 at line 9 "
        f"(audience=beginners) leads outside {folder.resolve()} through a symlink"
    )


def test_symlink_inside_the_folder_is_fine(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real", target_is_directory=True)
    recipe = load_recipe(write(tmp_path, GOOD))
    assert len(recipe.jobs) == 4


@pytest.mark.parametrize(
    "replacement, message_start",
    [
        (
            '"out/{topic}-{audience}.doc"',
            "output 'out/grinders-beginners.doc' for item 1 at line 9 "
            "(audience=beginners) must end in .md or .txt",
        ),
        ('"{empty}"', "output is empty for item 1 at line 9"),
    ],
)
def test_output_suffix_and_empty(tmp_path, replacement, message_start):
    text = GOOD.replace('"out/{topic}-{audience}.md"', replacement) + "vars: {empty: ''}\n"
    assert only_problem(write(tmp_path, text), 7, 9).startswith(message_start)


def test_newline_in_output_refused(tmp_path):
    text = GOOD.replace("{topic: grinders}", '{topic: "grin\\nders"}')
    assert "contains a newline or NUL" in only_problem(write(tmp_path, text), 7, 9)


def test_output_that_is_a_folder(tmp_path):
    (tmp_path / "out" / "grinders-beginners.md").mkdir(parents=True)
    assert "is a folder" in only_problem(write(tmp_path, GOOD), 7, 9)


@pytest.mark.parametrize(
    "text, line, column, start",
    [
        ("name: x\nprompt: [unclosed\n", 3, 1, "not valid YAML (expected ',' or ']'"),
        (
            "name: x\n\tprompt: a\n",
            2,
            1,
            "not valid YAML (found character '\\t' that cannot start any token",
        ),
        ("name: x\nprompt: 'a\n", 3, 1, "not valid YAML (found unexpected end of stream"),
        (
            "name: x\n---\nname: y\n",
            2,
            1,
            "not valid YAML (but found another document, expected a single",
        ),
        ("name: x\nprompt: *nothing\n", 2, 9, "not valid YAML (found undefined alias 'nothing'"),
        (
            'name: x\nprompt: "a\x01"\n',
            2,
            11,
            "not valid YAML (special characters are not allowed)",
        ),
    ],
)
def test_unparsable_yaml(tmp_path, text, line, column, start):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    assert only_problem(path, line, column).startswith(start)


def test_not_utf8(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"name: x\nprompt: caf\xe9\n")
    assert only_problem(path, 2, 12) == "the recipe is not UTF-8 text"


@pytest.mark.parametrize(
    "value, column",
    [
        ("!!python/object/apply:os.system [echo hi]", 9),
        ("!!python/name:os.system", 9),
        ("!custom x", 9),
        ("!!binary aGk=", 9),
    ],
)
def test_python_and_other_tags_refused(tmp_path, value, column):
    path = write(
        tmp_path, GOOD.replace('"Write a {words}-word guide to {topic} for {audience}."', value)
    )
    message = only_problem(path, 6, column)
    assert message.startswith("tag ") and message.endswith(
        "is not allowed: a recipe is plain YAML data"
    )


def test_python_tag_on_a_mapping_refused(tmp_path):
    path = write(
        tmp_path, GOOD.replace("{topic: grinders}", "!!python/object:argparse.Namespace {topic: x}")
    )
    assert only_problem(path, 9, 5).startswith(
        "tag !!python/object:argparse.Namespace is not allowed"
    )


def test_duplicate_key(tmp_path):
    path = write(tmp_path, GOOD + "words: 10\n")
    assert only_problem(path, 13, 1) == "duplicate key 'words' in the recipe (also at line 4)"


def test_matrix_and_items_shapes(tmp_path):
    text = GOOD.replace("audience: [beginners, baristas]", "audience: []\n  tone: friendly")
    path = write(tmp_path, text.replace("- {topic: grinders}", "- grinders"))
    found = problems(path)
    assert found == [
        f"{path}:9:5: item 1 must be a mapping (key: value)",
        f"{path}:12:13: matrix audience must be a non-empty list of values",
        f"{path}:13:9: matrix tone must be a non-empty list of values",
    ]


def test_reserved_and_conflicting_variable_names(tmp_path):
    text = GOOD.replace("{topic: grinders}", "{topic: grinders, audience: x, index: 3}")
    found = problems(write(tmp_path, text + "vars: {name: y, my var: 1}\n"))
    path = tmp_path / "recipe.yaml"
    assert found == [
        f"{path}:9:23: item key 'audience' is also a matrix key",
        f"{path}:9:36: item key 'index' is reserved (name, index and words are built in; "
        "model, strategy and params are settings)",
        f"{path}:13:8: vars key 'name' is reserved (name, index and words are built in; "
        "model, strategy and params are settings)",
        f"{path}:13:17: vars key 'my var' cannot be used in a template",
    ]


def test_null_values_and_names(tmp_path):
    path = write(
        tmp_path,
        GOOD.replace("name: espresso-guides", "name: espresso guides").replace(
            "{topic: grinders}", "{topic: }"
        ),
    )
    found = problems(path)
    assert found == [
        f"{path}:1:7: name 'espresso guides' cannot be a folder name",
        f"{path}:9:12: item 1 topic has no value",
    ]


@pytest.mark.parametrize(
    "value, line, column, message",
    [
        ("ftp://host", 13, 11, "endpoint 'ftp://host' is not an http(s) URL"),
        ("[]", 13, 11, "endpoint is an empty list"),
        ("[http://a:8080, localhost]", 13, 27, "endpoint 'localhost' is not an http(s) URL"),
    ],
)
def test_endpoint(tmp_path, value, line, column, message):
    path = write(tmp_path, GOOD + f"endpoint: {value}\n")
    assert only_problem(path, line, column) == message


def test_empty_and_non_mapping_recipes(tmp_path):
    empty = write(tmp_path, "# nothing\n", "empty.yaml")
    assert only_problem(empty, 1, 1) == "the recipe is empty"
    listed = write(tmp_path, "\n- a\n", "list.yaml")
    assert only_problem(listed, 2, 1).startswith("the recipe must be a mapping")


def test_planned_needs_a_target(tmp_path):
    text = (
        GOOD.replace("words: 3000\n", "")
        .replace("strategy: auto", "strategy: planned")
        .replace("Write a {words}-word guide", "Write a guide")
        .replace(", words: 1500", "")
    )
    path = write(tmp_path, text)
    found = problems(path)
    assert found[0].startswith(f"{path}:3:11: strategy planned needs a target length for item 1")


def test_every_problem_reported_one_line_each(tmp_path):
    text = GOOD.replace("strategy: auto", "strategy: fast").replace("words: 3000", "words: 0")
    path = write(tmp_path, text.replace("prompt:", "promt:"))
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    err = caught.value
    lines = err.message.splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{path}:3:11", f"{path}:4:8", f"{path}:6:1"]
    assert err.hint is None and all("; " in line for line in lines)  # each with its own hint
    assert isinstance(err, UsageError)


def test_single_problem_message_is_exact_and_hint_names_the_fix(tmp_path):
    path = write(tmp_path, GOOD.replace("strategy: auto", "strategy: fast"))
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    err = caught.value
    assert err.message == f"{path}:3:11: strategy must be one of auto, single, planned, not 'fast'"
    assert err.hint and "auto" in err.hint


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")


def test_too_many_jobs(tmp_path):
    values = ", ".join(str(n) for n in range(200))
    path = write(
        tmp_path,
        GOOD.replace(
            "audience: [beginners, baristas]", f"audience: [{values}]\n  level: [{values}]"
        ),
    )
    assert only_problem(path, 12, 3) == "this recipe makes 80,000 jobs, more than 10,000"


# -- expansion ---------------------------------------------------------------------------


def test_expansion_order_and_count(tmp_path):
    text = GOOD.replace(
        "audience: [beginners, baristas]",
        "audience: [beginners, baristas]\n  tone: [dry, warm, wry]",
    )
    text = text.replace('"out/{topic}-{audience}.md"', '"out/{topic}-{audience}-{tone}.md"')
    recipe = load_recipe(write(tmp_path, text))
    assert isinstance(recipe, Recipe) and len(recipe.jobs) == 2 * 2 * 3
    combos = [
        (j.variables["topic"], j.variables["audience"], j.variables["tone"]) for j in recipe.jobs
    ]
    assert combos[:4] == [
        ("grinders", "beginners", "dry"),
        ("grinders", "beginners", "warm"),
        ("grinders", "beginners", "wry"),
        ("grinders", "baristas", "dry"),
    ]
    assert combos[6] == ("milk steaming", "beginners", "dry")
    assert [j.index for j in recipe.jobs] == list(range(1, 13))
    assert [j.item for j in recipe.jobs] == [1] * 6 + [2] * 6
    assert recipe.jobs[0].item_line == 9 and recipe.jobs[6].item_line == 10


def test_job_fields(tmp_path):
    path = write(tmp_path, GOOD + "endpoint: http://127.0.0.1:8080\n")
    job = load_recipe(path).jobs[0]
    assert isinstance(job, Job)
    assert job.prompt == "Write a 3000-word guide to grinders for beginners."
    assert job.output == tmp_path.resolve() / "out" / "grinders-beginners.md"
    assert job.relpath == "out/grinders-beginners.md"
    assert job.id == "espresso-guides/out/grinders-beginners.md"
    assert (job.words, job.model, job.strategy) == (3000, "longwriter-zero-32b", "auto")
    assert job.params == {"temperature": 0.6, "seed": 7}
    assert job.endpoint == ("http://127.0.0.1:8080",)
    assert job.where == f"{path}:9"


def test_no_items_means_one_job_per_matrix_cell(tmp_path):
    text = GOOD.split("items:")[0].replace("{topic}", "espresso") + "matrix: {audience: [a, b]}\n"
    recipe = load_recipe(write(tmp_path, text))
    assert [j.relpath for j in recipe.jobs] == ["out/espresso-a.md", "out/espresso-b.md"]
    assert recipe.jobs[0].item is None
    plain = load_recipe(
        write(tmp_path, "name: one\nprompt: Write about tea.\noutput: tea.md\n", "one.yaml")
    )
    assert len(plain.jobs) == 1 and plain.jobs[0].words is None and plain.jobs[0].strategy is None


def test_per_item_overrides(tmp_path):
    text = GOOD.replace(
        "{topic: milk steaming, words: 1500}",
        "{topic: milk steaming, words: 1500, model: tiny, strategy: single,"
        " params: {temperature: 0.2, top_k: 20}}",
    )
    jobs = load_recipe(write(tmp_path, text)).jobs
    assert (jobs[0].words, jobs[0].model, jobs[0].strategy) == (3000, "longwriter-zero-32b", "auto")
    assert jobs[0].params == {"temperature": 0.6, "seed": 7}
    milk = jobs[2]
    assert (milk.words, milk.model, milk.strategy) == (1500, "tiny", "single")
    assert milk.params == {"temperature": 0.2, "seed": 7, "top_k": 20}  # merged over the recipe's
    assert milk.prompt.startswith("Write a 1500-word guide to milk steaming")
    assert "model" not in milk.variables


def test_builtin_variables(tmp_path):
    text = GOOD.replace('"out/{topic}-{audience}.md"', '"{name}/{index}-{topic}-{audience}.md"')
    jobs = load_recipe(write(tmp_path, text)).jobs
    assert [j.relpath for j in jobs][:2] == [
        "espresso-guides/1-grinders-beginners.md",
        "espresso-guides/2-grinders-baristas.md",
    ]


def test_values_are_used_as_written(tmp_path):
    text = GOOD.replace("{topic: grinders}", "{topic: 1.10}").replace(
        "{topic: milk steaming", "{topic: yes"
    )
    jobs = load_recipe(write(tmp_path, text)).jobs
    assert jobs[0].relpath == "out/1.10-beginners.md" and jobs[2].relpath == "out/yes-beginners.md"


def test_var_precedence(tmp_path):
    text = GOOD.replace("for {audience}.", "for {audience}, {tone}.") + "vars: {tone: dry}\n"
    path = write(tmp_path, text)
    assert load_recipe(path).jobs[0].prompt.endswith("for beginners, dry.")
    # --var beats vars:
    assert (
        load_recipe(path, variables={"tone": "warm"})
        .jobs[0]
        .prompt.endswith("for beginners, warm.")
    )
    # --var pins a matrix axis to one value
    pinned = load_recipe(path, variables={"audience": "roasters"}).jobs
    assert [j.relpath for j in pinned] == [
        "out/grinders-roasters.md",
        "out/milk steaming-roasters.md",
    ]
    # --var fills a variable the recipe leaves open
    open_text = text.replace("vars: {tone: dry}\n", "")
    assert problems(write(tmp_path, open_text, "open.yaml"))
    jobs = load_recipe(tmp_path / "open.yaml", variables={"tone": "wry"}).jobs
    assert jobs[0].prompt.endswith("for beginners, wry.")
    # --var beats an item's value too (here it makes the outputs collide, which is reported)
    found = problems(path, variables={"topic": "tampers"})
    assert "both write out/tampers-beginners.md" in found[0]


def test_var_names_checked(tmp_path):
    path = write(tmp_path, GOOD)
    with pytest.raises(UsageError, match="--var words"):
        load_recipe(path, variables={"words": "10"})


def test_out_dir(tmp_path):
    path = write(tmp_path, GOOD)
    default = load_recipe(path)
    assert default.out_root == tmp_path.resolve()
    moved = load_recipe(path, out_dir=Path("rel-out"))
    assert moved.out_root == Path("rel-out").resolve()
    assert moved.jobs[0].output == Path("rel-out").resolve() / "out/grinders-beginners.md"


def test_yaml_anchors_and_merge_keys(tmp_path):
    text = GOOD.replace(
        "items:\n  - {topic: grinders}\n  - {topic: milk steaming, words: 1500}\n",
        "items:\n  - &base {topic: grinders, words: 1200}\n  - {<<: *base, topic: tampers}\n",
    )
    jobs = load_recipe(write(tmp_path, text)).jobs
    assert [(j.variables["topic"], j.words) for j in jobs] == [
        ("grinders", 1200),
        ("grinders", 1200),
        ("tampers", 1200),
        ("tampers", 1200),
    ]


def test_fingerprint_stable_and_sensitive(tmp_path):
    path = write(tmp_path, GOOD)
    job = load_recipe(path).jobs[0]
    again = load_recipe(path).jobs[0]
    assert job.fingerprint() == again.fingerprint() and len(job.fingerprint()) == 64
    moved = load_recipe(path, out_dir=tmp_path / "x").jobs[0]
    assert moved.fingerprint() == job.fingerprint()  # where it is stored does not change the text
    for change in (
        {"prompt": job.prompt + " "},
        {"params": {**job.params, "seed": 8}},
        {"params": {**job.params, "temperature": 0.61}},
        {"words": 3001},
        {"model": "tiny"},
        {"strategy": "single"},
    ):
        assert dataclasses.replace(job, **change).fingerprint() != job.fingerprint(), change
    reordered = dataclasses.replace(job, params={"seed": 7, "temperature": 0.6})
    assert reordered.fingerprint() == job.fingerprint()
    edited = write(tmp_path, GOOD.replace("seed: 7", "seed: 8"), "edited.yaml")
    assert load_recipe(edited).jobs[0].fingerprint() != job.fingerprint()


def test_select(tmp_path):
    jobs = load_recipe(write(tmp_path, GOOD)).jobs
    assert [j.relpath for j in select(jobs, "grinders-*")] == [
        "out/grinders-beginners.md",
        "out/grinders-baristas.md",
    ]
    assert [j.index for j in select(jobs, "*baristas*")] == [2, 4]
    assert len(select(jobs, "out/*.md")) == 4
    assert len(select(jobs, "espresso-guides/*")) == 4
    assert select(jobs, "out/milk steaming-baristas.md")[0].index == 4
    assert select(jobs, "nothing*") == []


def test_parse_vars():
    assert parse_vars(["a=1", "b=x=y", "c=", "a=2"]) == {"a": "2", "b": "x=y", "c": ""}
    assert parse_vars(["主题=城市更新"]) == {"主题": "城市更新"}
    for bad in ("novalue", "=x", "my key=1", "1a=2", "name=x", "index=1", "words=10"):
        with pytest.raises(UsageError) as caught:
            parse_vars([bad])
        assert caught.value.exit_code == EXIT_USAGE and caught.value.hint


def test_load_recipes_refuses_two_recipes_writing_one_file(tmp_path):
    first = write(tmp_path, GOOD, "a.yaml")
    second = write(tmp_path, GOOD.replace("name: espresso-guides", "name: other"), "b.yaml")
    broken = write(tmp_path, GOOD.replace("words: 3000", "words: 0"), "c.yaml")
    with pytest.raises(RecipeError) as caught:
        load_recipes([first, second, broken])
    found = [str(p) for p in caught.value.problems]
    assert found[0] == f"{broken}:4:8: words must be between 1 and 200000, not 0"
    assert found[1].startswith(f"{second}:7:9: other/out/grinders-beginners.md writes ")
    assert len(load_recipes([first])[0].jobs) == 4
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    twin = write(elsewhere, GOOD)
    with pytest.raises(RecipeError) as caught:
        load_recipes([first, twin])
    assert str(caught.value) == (
        f"{twin}:1:7: recipe name 'espresso-guides' is also used by {first}; "
        "give each recipe its own name"
    )


# -- the shipped examples ----------------------------------------------------------------

EXAMPLES = sorted((ROOT / "recipes").glob("*.yaml"))


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert {"espresso-guides.yaml", "book-chapters.yaml", "zh-reports.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate(path, tmp_path):
    assert load_recipe(path).jobs  # in place, writing next to the recipe
    recipe = load_recipe(path, out_dir=tmp_path)
    assert recipe.jobs
    assert all(tmp_path.resolve() in j.output.parents for j in recipe.jobs)
    assert len({j.output for j in recipe.jobs}) == len(recipe.jobs)


def test_example_contents(tmp_path):
    espresso = load_recipe(ROOT / "recipes" / "espresso-guides.yaml", out_dir=tmp_path)
    assert len(espresso.jobs) == 8 and espresso.matrix == {"audience": ["beginners", "baristas"]}
    book = load_recipe(ROOT / "recipes" / "book-chapters.yaml", out_dir=tmp_path)
    assert all(
        "6. Harbours After Oil" in j.prompt for j in book.jobs
    )  # every chapter sees the outline
    zh = load_recipe(
        ROOT / "recipes" / "zh-reports.yaml", out_dir=tmp_path, variables={"年份": "2025"}
    )
    assert zh.jobs[0].prompt.startswith("写一篇3000字的关于上海城市更新的2025年度报告")
    assert all("/2025/" in j.relpath for j in zh.jobs)


def test_no_code_runs_while_loading(tmp_path):
    marker = tmp_path / "ran"
    text = f"name: x\nprompt: !!python/object/apply:os.system ['touch {marker}']\noutput: a.md\n"
    path = write(tmp_path, text)
    problems(path)
    assert not marker.exists()
