"""The EDN reader: a hand-written corpus, agreement with the edn_format package on generated
EDN, and errors that name the line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import edn_format
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.history.edn import EdnError, forms, loads

CORPUS = [
    ("nil", None), ("true", True), ("false", False), ("42", 42), ("-7", -7), ("+3", 3),
    ("12345678901234567890N", 12345678901234567890), ("2.5", 2.5), ("-1e3", -1000.0),
    ("1.5M", 1.5), (":ok", "ok"), (":timed-out", "timed-out"), (":jepsen.history/op",
                                                                "jepsen.history/op"),
    ("foo", "foo"), ('"a\\"b\\\\c\\n\\t\\u00e9"', 'a"b\\c\n\té'), ("[1 [2] ()]", [1, [2], []]),
    ("(1, 2 ,3)", [1, 2, 3]), ("#{1 [2 3]}", frozenset({1, (2, 3)})),
    ("{:a 1, :b {:c nil}}", {"a": 1, "b": {"c": None}}), ("{[1 2] :x}", {(1, 2): "x"}),
    ("; comment\n[1 ; two\n 2]", [1, 2]), ("#_ 1 2", 2), ('#inst "2020-01-01"', "2020-01-01"),
    ("#jepsen.history.Op{:f :read}", {"f": "read"}), ("{}", {}), ("[]", []),
]


@pytest.mark.parametrize(("text", "value"), CORPUS)
def test_corpus(text, value):
    assert loads(text) == value


@pytest.mark.parametrize(("text", "line", "words"), [
    ("{:a}", 1, "even number"), ("[1\n2", 1, "never closed"), ('\n"abc', 2, "never closed"),
    (":", 1, "not a keyword"), ('"\\q"', 1, "escape"), ("1 2", 1, "more than one"),
    ("\n\n}", 3, "unexpected"), ("#{{:a 1}}", 1, "map cannot"), ("\\a", 1, "not an EDN"),
    ("", 1, "end of input"), ("#1", 1, "'#'"),
])
def test_errors_name_the_line(text, line, words):
    with pytest.raises(EdnError) as info:
        loads(text)
    assert info.value.line == line
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_forms_give_each_elements_line():
    text = "; history\n[{:a 1}\n {:b 2}\n\n {:c\n 3}]\n"
    assert list(forms(text)) == [(2, {"a": 1}), (3, {"b": 2}), (5, {"c": 3})]
    assert list(forms("{:a 1}\n{:b 2}")) == [(1, {"a": 1}), (2, {"b": 2})]
    assert list(forms("")) == []
    with pytest.raises(EdnError, match="line 2: nothing may follow"):
        list(forms("[{:a 1}]\n{:b 2}"))
    with pytest.raises(EdnError, match="never closed"):
        list(forms("[{:a 1}"))


_NAME = st.from_regex(r"[a-z][a-z0-9\-]{0,6}(/[a-z][a-z0-9]{0,4})?", fullmatch=True)
_SPACE = st.sampled_from([" ", ",", "\n", " , ", " ;c\n", "\t"])


def _string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\t", "\\t") + '"'


_SCALARS = st.one_of(
    st.just("nil"), st.just("true"), st.just("false"),
    st.integers(-10**20, 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    _NAME.map(lambda n: ":" + n),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=8).map(_string),
)


def _join(items: list[str], spaces: list[str]) -> str:
    return "".join(s + i for i, s in zip(items, spaces, strict=False)) + spaces[-1]


def _collections(children):
    seq = st.lists(children, max_size=4)
    return st.one_of(
        st.tuples(seq, st.lists(_SPACE, min_size=5, max_size=5)).map(
            lambda p: "[" + _join(p[0], p[1]) + "]"),
        st.tuples(seq, st.lists(_SPACE, min_size=5, max_size=5)).map(
            lambda p: "(" + _join(p[0], p[1]) + ")"),
        st.tuples(st.dictionaries(_NAME, children, max_size=3),
                  st.lists(_SPACE, min_size=7, max_size=7)).map(
            lambda p: "{" + _join([f":{k} {v}" for k, v in p[0].items()], p[1]) + "}"),
        st.lists(_SCALARS.filter(lambda s: s not in ("nil",)), max_size=3, unique=True).map(
            lambda items: "#{" + " ".join(items) + "}"),
    )


EDN = st.recursive(_SCALARS, _collections, max_leaves=12)


def _normal(value):
    """edn_format's values as plain Python ones (keywords as names, lists as lists)."""
    if isinstance(value, edn_format.Keyword | edn_format.Symbol):
        return value.name
    if isinstance(value, Mapping):
        return {_key(k): _normal(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_normal(v) for v in value]
    if isinstance(value, frozenset):
        return frozenset(_key(v) for v in value)
    return value


def _key(value):
    normal = _normal(value)
    return tuple(normal) if isinstance(normal, list) else normal


@given(EDN)
def test_agrees_with_edn_format(text):
    ours = loads(text)
    assert ours == _normal(edn_format.loads(text))
    assert type(ours) is type(_normal(edn_format.loads(text)))
