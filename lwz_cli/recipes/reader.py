"""Reading one recipe node by node (yaml.compose with SafeLoader), so that every
problem is recorded with the line and column of the key or value at fault."""

from __future__ import annotations

import difflib
import re
import string
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from lwz_cli.errors import UsageError
from lwz_cli.export import FORMAT_NAMES
from lwz_cli.recipes.expand import Item, expand, setting
from lwz_cli.recipes.model import (
    ITEM_SETTINGS,
    KEYS,
    NAME,
    PARAMS,
    REQUIRED,
    RESERVED,
    SCALAR_TAGS,
    YAML_TAG,
    Overrides,
    Problem,
    Recipe,
)
from lwz_cli.strategy import STRATEGY_NAMES
from lwz_cli.writing.brief import read_brief, read_style
from lwz_cli.writing.grounding import CITATION_MODES
from lwz_cli.writing.length import MAX_TARGET_WORDS
from lwz_cli.writing.outline_file import read_outline
from lwz_cli.writing.plan import Plan

_BAD = object()  # a value whose problem is already recorded


class Reader:
    """Walks one recipe's YAML nodes, recording a Problem for each fault found."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[Problem] = []
        self.constructor = yaml.constructor.SafeConstructor()
        self._mappings: dict[int, dict[str, tuple[Node, Node]]] = {}

    def error(self, where: Node | tuple[int, int], message: str, hint: str | None = None) -> None:
        if isinstance(where, Node):
            where = (where.start_mark.line + 1, where.start_mark.column + 1)
        self.problems.append(Problem(str(self.path), where[0], where[1], message, hint))

    # -- nodes -------------------------------------------------------------------------

    def tag_ok(self, node: Node) -> bool:
        allowed = {
            ScalarNode: SCALAR_TAGS,
            SequenceNode: {YAML_TAG + "seq"},
            MappingNode: {YAML_TAG + "map"},
        }
        if node.tag in allowed[type(node)]:
            return True
        self.error(
            node,
            f"tag {node.tag.replace(YAML_TAG, '!!')} is not allowed: a recipe is plain YAML data",
            "remove the tag; recipes load with yaml.safe_load rules, never code",
        )
        return False

    def scalar(self, node: Node, what: str) -> Any:
        """The value of a scalar node, or _BAD (the problem is recorded)."""
        if not self.tag_ok(node):
            return _BAD
        if not isinstance(node, ScalarNode):
            kind = "list" if isinstance(node, SequenceNode) else "mapping"
            self.error(
                node,
                f"{what} must be a single value, not a {kind}",
                "write one value; quote it if it starts with [ or {",
            )
            return _BAD
        try:
            return self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError) as exc:
            self.error(
                node,
                f"{what}: not a valid value ({getattr(exc, 'problem', None) or exc})",
                "quote it to use it as text",
            )
            return _BAD

    def text(self, node: Node, what: str, example: str) -> str | None:
        value = self.scalar(node, what)
        if value is _BAD:
            return None
        if not isinstance(value, str) or not value.strip():
            problem = "is empty" if isinstance(value, str) else f"must be text, not {_shown(node)}"
            self.error(node, f"{what} {problem}", f"for example {example}")
            return None
        return value

    def number(
        self, node: Node, what: str, kind: type, low: float | None, high: float | None, example: str
    ):
        value = self.scalar(node, what)
        if value is _BAD:
            return None
        if isinstance(value, bool) or not isinstance(value, int if kind is int else (int, float)):
            noun = "a whole number" if kind is int else "a number"
            self.error(node, f"{what} must be {noun}, not {_shown(node)}", f"for example {example}")
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            self.error(node, f"{what} must be {bounds}, not {node.value}", f"for example {example}")
            return None
        try:
            return kind(value)
        except OverflowError:  # float(10**400)
            self.error(node, f"{what} is too large for a number", f"for example {example}")
            return None

    def variable(self, node: Node, what: str) -> str | None:
        """A template variable's value: the scalar as written (`1.10` stays `1.10`)."""
        value = self.scalar(node, what)
        if value is None:
            self.error(node, f"{what} has no value", 'give it one, or quote it: "null"')
        return None if value is None or value is _BAD else node.value

    def mapping(self, node: Node, what: str, example: str) -> dict[str, tuple[Node, Node]] | None:
        """{key: (key node, value node)}; merge keys (`<<: *base`) applied, own keys winning."""
        if id(node) in self._mappings:  # an alias of a mapping already checked
            return self._mappings[id(node)]
        if not isinstance(node, MappingNode):
            self.error(node, f"{what} must be a mapping (key: value)", f"for example {example}")
            return None
        if not self.tag_ok(node):
            return None
        own: dict[str, Node] = {}
        for key, _ in node.value:
            if isinstance(key, ScalarNode) and key.tag == YAML_TAG + "merge":
                continue
            if not isinstance(key, ScalarNode) or key.tag not in SCALAR_TAGS:
                self.error(key, f"a key in {what} must be a plain name", "for example topic")
            elif key.value in own:
                self.error(
                    key,
                    f"duplicate key {key.value!r} in {what} "
                    f"(also at line {own[key.value].start_mark.line + 1})",
                    "YAML would keep only the last one; remove one",
                )
            else:
                own[key.value] = key
        try:
            self.constructor.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            self.error(
                (exc.problem_mark and (exc.problem_mark.line + 1, exc.problem_mark.column + 1))
                or node,
                f"{what}: {exc.problem}",
                "merge (<<) only mappings",
            )
            return None
        entries: dict[str, tuple[Node, Node]] = {
            k.value: (k, v) for k, v in node.value if isinstance(k, ScalarNode)
        }
        self._mappings[id(node)] = entries
        return entries

    def template(self, node: Node, what: str, example: str) -> tuple[str, list[str]] | None:
        """A template and the variables it uses; only plain `{name}` fields."""
        text = self.text(node, what, example)
        if text is None:
            return None
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            self.error(node, f"{what}: {exc}", "write {{ and }} for literal braces")
            return None
        names = []
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            if conversion or spec or not name.isidentifier():
                self.error(
                    node,
                    f"{what}: {shown} is not a plain {{name}} field",
                    "use {name} only (no attributes, indexes, !conversions or :formats); "
                    "{{ and }} for literal braces",
                )
                return None
            names.append(name)
        return text, names

    # -- the recipe ----------------------------------------------------------------------

    def read(
        self, data: bytes, variables: dict[str, str], out_dir: Path | None, overrides: Overrides
    ) -> Recipe | None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = data[: exc.start].decode("utf-8", "replace")
            self.error(
                _position(before, len(before)), "the recipe is not UTF-8 text", "save it as UTF-8"
            )
            return None
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = exc.problem or exc.context
            if exc.problem and exc.context and exc.context_mark:  # where the broken construct began
                problem = (
                    f"{exc.problem}, {exc.context} at line {exc.context_mark.line + 1}, "
                    f"column {exc.context_mark.column + 1}"
                )
            self.error(where, f"not valid YAML ({problem})", "fix the YAML syntax")
            return None
        except RecursionError:  # yaml's composer recurses once per level of nesting
            self.error(
                (1, 1), "not valid YAML (nested too deeply)", "flatten the lists and mappings"
            )
            return None
        except yaml.reader.ReaderError as exc:  # a control character; it has an offset, not a mark
            self.error(
                _position(text, exc.position),
                f"not valid YAML ({exc.reason})",
                "remove the character",
            )
            return None
        if root is None:
            self.error(
                (1, 1), "the recipe is empty", "see recipes/ in lwz's repository for examples"
            )
            return None
        top = self.mapping(root, "the recipe", "name: my-series")
        if top is None:
            return None
        suggested = set()
        for key, (key_node, _) in top.items():
            if key not in KEYS:
                close = difflib.get_close_matches(key, KEYS, n=1)
                suggested.update(close)
                self.error(
                    key_node,
                    f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                    "the keys are " + ", ".join(KEYS),
                )
        for key, example in REQUIRED.items():
            if key not in top and key not in suggested:  # a misspelt key is reported once, above
                self.error(root, f"missing required key {key!r}", f"add {example}")
        value = {k: v for k, (_, v) in top.items()}

        name = (
            self.text(value["name"], "name", "name: espresso-guides") if "name" in value else None
        )
        if name and not NAME.fullmatch(name):
            self.error(
                value["name"],
                f"name {name!r} cannot be a folder name",
                "use letters, digits, '-', '_' and '.', e.g. espresso-guides",
            )
        settings = self.settings(value, "")
        prompt = (
            self.template(value["prompt"], "prompt", 'prompt: "Write a guide to {topic}."')
            if "prompt" in value
            else None
        )
        output = (
            self.template(value["output"], "output", 'output: "out/{topic}.md"')
            if "output" in value
            else None
        )
        endpoint = self.endpoint(value["endpoint"]) if "endpoint" in value else ()
        outline = self.outline(value["outline"]) if "outline" in value else None
        fmt = self.format(value["format"]) if "format" in value else None
        defaults = self.variables(value["vars"], "vars") if "vars" in value else {}
        matrix = self.matrix(value["matrix"]) if "matrix" in value else {}
        items = self.items(value["items"], matrix) if "items" in value else []
        brief = self.guidance(value["brief"], "brief") if "brief" in value else None
        style = self.guidance(value["style"], "style") if "style" in value else None
        sources = self.sources(value["sources"]) if "sources" in value else ()
        citations = self.citations(value["citations"]) if "citations" in value else None
        if self.problems or name is None or prompt is None or output is None:
            return None  # a None above has recorded its problem
        recipe = Recipe(
            path=self.path,
            name=name,
            prompt=prompt[0],
            output=output[0],
            format=fmt,
            out_root=Path(out_dir or self.path.parent).resolve(),
            model=setting(settings, "model"),
            strategy=setting(settings, "strategy"),
            words=setting(settings, "words"),
            params=setting(settings, "params") or {},
            endpoint=endpoint,
            outline=outline,
            vars=defaults,
            matrix=matrix,
            brief=brief,
            style=style,
            sources=sources,
            citations=citations,
            items=[
                dict(item.values, **{k: v for k, (v, _) in item.settings.items()}) for item in items
            ],
            positions={
                k: (n.start_mark.line + 1, n.start_mark.column + 1) for k, n in value.items()
            },
        )
        expand(self, recipe, value, settings, items, prompt[1], output[1], variables, overrides)
        return recipe

    def format(self, node: Node) -> str | None:
        """`format: docx`: what every output is written as (its suffix is replaced)."""
        name = self.text(node, "format", "format: docx")
        if name is not None and name.lower() not in FORMAT_NAMES:
            self.error(
                node, f"format {name!r} is not one lwz writes", "use " + ", ".join(FORMAT_NAMES)
            )
            return None
        return name.lower() if name else None

    def guidance(self, node: Node, key: str) -> str | None:
        """`brief:` (text, or a file in the recipe's folder) or `style:` (a file there,
        of which a bounded excerpt is kept), read now: a fault is the key's problem."""
        example = 'brief: "for beginners; a warm tone"' if key == "brief" else "style: voice.md"
        value = self.text(node, key, example)
        if value is None:
            return None
        folder = self.path.parent.resolve()
        try:
            file = (folder / value).resolve() if "\n" not in value and len(value) < 4096 else None
            found = file is not None and file.exists()
        except (OSError, ValueError):  # a name the OS cannot take (a NUL byte): text, then
            file, found = None, False
        if key == "brief" and not found:
            return value.strip()
        if file is None or (file != folder and folder not in file.parents):
            self.error(node, f"{key} {value!r} is outside the recipe's folder", "move it in there")
            return None
        try:
            return read_brief(str(file), what=key) if key == "brief" else read_style(file, what=key)
        except UsageError as exc:
            self.error(node, exc.message, exc.hint)
            return None

    def sources(self, node: Node) -> tuple[str, ...]:
        """`sources:` a path or a list of them (files, folders, globs), relative to the
        recipe and inside its folder, like outputs."""
        if not self.tag_ok(node):
            return ()
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not nodes:
            self.error(node, "sources is an empty list", "give a folder, or remove sources:")
        folder = self.path.parent.resolve()
        found = []
        for item in nodes:
            spec = self.text(item, "sources", "sources: [notes/, papers/*.pdf]")
            if spec is None:
                continue
            # a glob's folder part must stay inside too: check up to its first wildcard
            fixed = re.split(r"[*?\[]", spec.strip(), maxsplit=1)[0]
            try:
                target = (folder / fixed).resolve()
            except (OSError, ValueError):  # a NUL byte, a loop of links: no path inside
                target = None
            if target is None:
                self.error(item, f"source {spec!r} is not a path", "check it for odd characters")
                continue
            if Path(spec.strip()).is_absolute() or (
                target != folder and folder not in target.parents
            ):
                self.error(
                    item, f"source {spec!r} is outside the recipe's folder", "move it in there"
                )
                continue
            found.append(spec.strip())
        return tuple(found)

    def citations(self, node: Node) -> str | None:
        """`citations: none | numeric | footnotes`."""
        name = self.text(node, "citations", "citations: numeric")
        if name is not None and name not in CITATION_MODES:
            self.error(
                node, f"citations {name!r} is not one lwz knows", "use " + ", ".join(CITATION_MODES)
            )
            return None
        return name

    def settings(self, value: dict[str, Node], where: str) -> dict[str, tuple[Any, Node]]:
        """words, model, strategy, params: at the top or in an item ("item 2 ")."""
        found: dict[str, tuple[Any, Node]] = {}
        if "words" in value:
            found["words"] = (
                self.number(
                    value["words"], f"{where}words", int, 1, MAX_TARGET_WORDS, "words: 3000"
                ),
                value["words"],
            )
        if "model" in value:
            found["model"] = (
                self.text(value["model"], f"{where}model", "model: tiny"),
                value["model"],
            )
        if "strategy" in value:
            node = value["strategy"]
            strategy = self.text(node, f"{where}strategy", "strategy: auto")
            if strategy is not None and strategy not in STRATEGY_NAMES:
                self.error(
                    node,
                    f"{where}strategy must be one of {', '.join(STRATEGY_NAMES)}, not {strategy!r}",
                    "auto picks single or planned by length",
                )
            found["strategy"] = strategy, node
        if "params" in value:
            entries = (
                self.mapping(value["params"], f"{where}params", "{temperature: 0.6, seed: 7}") or {}
            )
            params = {}
            for key, (key_node, node) in entries.items():
                if key not in PARAMS:
                    close = difflib.get_close_matches(key, PARAMS, n=1)
                    self.error(
                        key_node,
                        f"unknown {where}params key {key!r}"
                        + (f" (did you mean {close[0]!r}?)" if close else ""),
                        "params are " + ", ".join(PARAMS),
                    )
                else:
                    kind, low, high, example = PARAMS[key]
                    params[key] = self.number(
                        node, f"{where}params {key}", kind, low, high, f"{key}: {example}"
                    )
            found["params"] = params, value["params"]
        return found

    def outline(self, node: Node) -> Plan | None:
        """`outline: guide.outline.md`: an outline file in the recipe's folder, read now
        so its mistakes are reported with the recipe's."""
        name = self.text(node, "outline", "outline: guide.outline.md")
        if name is None:
            return None
        folder = self.path.parent.resolve()
        path = (folder / name).resolve()
        if not path.is_relative_to(folder):
            self.error(
                node,
                f"outline {name!r} is outside the recipe's folder",
                "keep the outline file next to the recipe (or in a folder below it)",
            )
            return None
        try:
            return read_outline(path)
        except UsageError as exc:
            self.error(node, f"outline: {exc.message}", exc.hint)
            return None

    def endpoint(self, node: Node) -> tuple[str, ...]:
        if not self.tag_ok(node):
            return ()
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not nodes:
            self.error(node, "endpoint is an empty list", "give a URL, or remove endpoint:")
        urls = []
        for url_node in nodes:
            url = self.text(url_node, "endpoint", "endpoint: http://127.0.0.1:8080")
            if url is None:
                continue
            parts = urlsplit(url.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                self.error(
                    url_node,
                    f"endpoint {url!r} is not an http(s) URL",
                    "for example http://127.0.0.1:8080",
                )
            urls.append(url.strip())
        return tuple(urls)

    def variable_name(self, key_node: Node, key: str, what: str) -> bool:
        if key in RESERVED:
            self.error(
                key_node,
                f"{what} {key!r} is reserved (name, index and words are built in; "
                "model, strategy and params are settings)",
                "use another name",
            )
        elif not key.isidentifier():
            self.error(
                key_node,
                f"{what} {key!r} cannot be used in a template",
                "use letters, digits and _ (not starting with a digit)",
            )
        else:
            return True
        return False

    def variables(self, node: Node, what: str) -> dict[str, str]:
        found = {}
        for key, (key_node, value_node) in (
            self.mapping(node, what, "{tone: friendly}") or {}
        ).items():
            if not self.variable_name(key_node, key, f"{what} key"):
                continue
            text = self.variable(value_node, f"{what} {key}")
            if text is not None:  # None has recorded its problem
                found[key] = text
        return found

    def matrix(self, node: Node) -> dict[str, list[str]]:
        axes = {}
        for key, (key_node, list_node) in (
            self.mapping(node, "matrix", "{audience: [a, b]}") or {}
        ).items():
            if not self.variable_name(key_node, key, "matrix key"):
                continue
            if not self.tag_ok(list_node):
                continue
            if not isinstance(list_node, SequenceNode) or not list_node.value:
                self.error(
                    list_node,
                    f"matrix {key} must be a non-empty list of values",
                    f"for example {key}: [beginners, baristas]",
                )
                continue
            values: list[str] = []
            for value_node in list_node.value:
                value = self.variable(value_node, f"matrix {key} value")
                if value in values:
                    self.error(value_node, f"matrix {key} lists {value!r} twice", "remove one")
                elif value is not None:
                    values.append(value)
            axes[key] = values
        return axes

    def items(self, node: Node, matrix: dict[str, list[str]]) -> list[Item]:
        if not self.tag_ok(node):
            return []
        if not isinstance(node, SequenceNode):
            self.error(
                node, "items must be a list of mappings", "for example:  - {topic: grinders}"
            )
            return []
        if not node.value:
            self.error(
                node, "items is empty", "list at least one item, or remove items: for one job"
            )
        found = []
        for number, item_node in enumerate(node.value, 1):
            entries = self.mapping(item_node, f"item {number}", "- {topic: grinders}")
            if entries is None:
                continue
            value = {k: v for k, (_, v) in entries.items()}
            item = Item(
                number,
                item_node.start_mark.line + 1,
                {},
                self.settings(
                    {k: value[k] for k in ITEM_SETTINGS if k in value}, f"item {number} "
                ),
            )
            for key, (key_node, value_node) in entries.items():
                if key in ITEM_SETTINGS or not self.variable_name(key_node, key, "item key"):
                    continue
                if key in matrix:
                    self.error(
                        key_node,
                        f"item key {key!r} is also a matrix key",
                        "set it in the items or in the matrix, not both",
                    )
                text = self.variable(value_node, f"item {number} {key}")
                if text is not None:  # None has recorded its problem
                    item.values[key] = text
            found.append(item)
        return found


def _shown(node: Node) -> str:
    return repr(node.value) if node.tag == YAML_TAG + "str" else node.value or "nothing"


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1
