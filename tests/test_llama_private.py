"""lwz reaches into llama-cpp-python's private parts; an upgrade that drops one must fail here.

pyproject.toml bounds llama-cpp-python below 0.4 while these are used. Each entry names
the private thing, how to find it on a real `Llama`, and a pattern for lwz's uses of it,
so the failure says what an upgrade removed and which lines of lwz depend on it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import ROOT


@dataclass(frozen=True)
class Private:
    name: str  # as a reader of lwz's code would write it
    present: Callable[[Any], bool]  # given a loaded Llama
    uses: str  # a regex over lwz's source that finds where it is used


def _source_has(obj: Any, text: str) -> bool:
    try:
        return text in inspect.getsource(obj)
    except (OSError, TypeError):
        return False


def _has_callable(obj: Any, *names: str) -> bool:
    return all(callable(getattr(obj, name, None)) for name in names)


def _requires_eval_is_read(llm: Any) -> bool:
    # assigning an attribute that Llama no longer reads would silently do nothing
    return hasattr(llm, "_requires_eval") and _source_has(type(llm), "self._requires_eval")


def _vocab_only_model_loads_as_lwz_calls_it(llm: Any) -> bool:
    from llama_cpp import _internals

    wanted = {"path_model", "params", "verbose"}
    return wanted <= set(inspect.signature(_internals.LlamaModel).parameters) and _has_callable(
        _internals.LlamaModel,
        "tokenize", "token_get_text", "token_bos", "token_eos", "n_ctx_train", "close",
    )  # fmt: skip


def _logger_set_verbose(llm: Any) -> bool:
    from llama_cpp import _logger

    return _has_callable(_logger, "set_verbose")


def _default_params_looked_up_at_call_time(llm: Any) -> bool:
    # _model_params() swaps the module's default-params function for the Llama() call: it
    # only works while Llama.__init__ looks the function up in that module at call time
    import llama_cpp

    fields = dict(llama_cpp.llama_model_params._fields_)
    called = _source_has(type(llm).__init__, "llama_cpp.llama_model_default_params()")
    return called and "use_extra_bufts" in fields


PRIVATE = [
    Private("Llama._model", lambda llm: hasattr(llm, "_model"), r"\.llm\._model\b"),
    Private(
        "Llama._model.n_ctx_train()",
        lambda llm: _has_callable(llm._model, "n_ctx_train"),
        r"\.llm\._model\.n_ctx_train\b",
    ),
    Private(
        "Llama._model.vocab", lambda llm: hasattr(llm._model, "vocab"), r"\.llm\._model\.vocab\b"
    ),
    Private("Llama._ctx", lambda llm: hasattr(llm, "_ctx"), r"\.llm\._ctx\b"),
    Private(
        "Llama._ctx.ctx (the llama_context pointer)",
        lambda llm: bool(llm._ctx.ctx),
        r"\.llm\._ctx\.ctx\b",
    ),
    Private(
        "Llama._ctx.kv_cache_clear()",
        lambda llm: _has_callable(llm._ctx, "kv_cache_clear"),
        r"\._ctx\.kv_cache_clear\b",
    ),
    Private(
        "Llama._requires_eval (set after a KV restore; must still be read by Llama)",
        _requires_eval_is_read,
        r"\.llm\._requires_eval\b",
    ),
    # public names, but lwz writes them directly to restore a snapshot, as Llama does internally
    Private(
        "Llama.input_ids / Llama.n_tokens (written on restore)",
        lambda llm: hasattr(llm, "input_ids") and isinstance(getattr(llm, "n_tokens", None), int),
        r"\.llm\.(input_ids|n_tokens)\s*(\[[^]]*\]\s*)?=[^=]",
    ),
    Private(
        "llama_cpp._internals.LlamaModel(path_model=, params=, verbose=) and its tokenize, "
        "token_get_text, token_bos, token_eos, n_ctx_train, close",
        _vocab_only_model_loads_as_lwz_calls_it,
        r"_internals\.LlamaModel\b",
    ),
    Private("llama_cpp._logger.set_verbose", _logger_set_verbose, r"llama_cpp\._logger\b"),
    Private(
        "Llama.__init__ calling llama_cpp.llama_cpp.llama_model_default_params() "
        "(and its use_extra_bufts field)",
        _default_params_looked_up_at_call_time,
        r"low\.llama_model_default_params\b",
    ),
]

# every private access on a llama_cpp object or module in lwz: each must be in PRIVATE
ACCESS = re.compile(
    r"\b(?:llm\.(_(?!_)\w+)|llama_cpp\.(_(?!_)\w+)|from llama_cpp import (_(?!_)\w+))"
)


def _sources() -> list[tuple[str, list[str]]]:
    files = sorted((ROOT / "lwz_cli").rglob("*.py")) + sorted((ROOT / "bench").glob("*.py"))
    return [(str(path.relative_to(ROOT)), path.read_text().splitlines()) for path in files]


def _where(pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return [
        f"{name}:{number}"
        for name, lines in _sources()
        for number, line in enumerate(lines, 1)
        if regex.search(line)
    ]


def test_every_private_llama_cpp_access_is_listed_and_used():
    """PRIVATE stays true of the code: nothing private goes unlisted, no entry is stale."""
    listed = " ".join(p.name for p in PRIVATE) + " _internals _logger"
    unlisted = sorted(
        {
            f"{name}: {next(g for g in m.groups() if g)}"
            for name, lines in _sources()
            for line in lines
            for m in ACCESS.finditer(line)
            if next(g for g in m.groups() if g) not in listed
        }
    )
    assert not unlisted, "private llama_cpp names used but not in PRIVATE:\n  " + "\n  ".join(
        unlisted
    )
    stale = [p.name for p in PRIVATE if not _where(p.uses)]
    assert not stale, f"PRIVATE names things lwz no longer uses: {stale}"


def test_the_private_parts_of_llama_cpp_that_lwz_uses_still_exist(tiny_path):
    import llama_cpp

    # a vocab-only load is enough: it builds the same Llama, _model and _ctx objects
    llm = llama_cpp.Llama(str(tiny_path), vocab_only=True, n_ctx=64, verbose=False)
    try:
        missing = []
        for private in PRIVATE:
            try:
                ok, why = private.present(llm), ""
            except Exception as exc:  # an attribute one level up is gone
                ok, why = False, f" ({exc!r})"
            if not ok:
                missing.append(
                    f"  {private.name}{why}\n    used at: {', '.join(_where(private.uses))}"
                )
    finally:
        llm.close()
    if missing:
        pytest.fail(
            f"llama-cpp-python {llama_cpp.__version__} no longer has what lwz uses:\n"
            + "\n".join(missing)
            + "\nadapt those lines (or pin llama-cpp-python below this version in pyproject.toml)",
            pytrace=False,
        )
