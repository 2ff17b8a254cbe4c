"""Plain data only (vpnrunbook.plaindata): the bounded YAML loader, the check naming each bad field, and the
literal renderer the injected-parameters cell is written with."""

from __future__ import annotations

import ast
import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from vpnrunbook import plaindata
from vpnrunbook.plaindata import NotPlain, check, load_yaml, render_assignments, render_literal
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.policy.rules import PolicyValidationError
from vpnrunbook.runbook.cli import _overrides


@pytest.mark.parametrize(("text", "field", "said"), [
    ("policy: {name: !!binary aGVsbG8=}", "policy.name", "!!binary"),
    ("policy: {description: !!set {a, b}}", "policy.description", "!!set"),
    ("when: 2024-01-01", "when", "date"),
    ("when: 2001-12-14t21:59:43.10-05:00", "when", "date"),
    ("x: !!omap [a: 1]", "x", "!!omap"),
    ("x: !!pairs [a: 1]", "x", "!!pairs"),
    ("x: [1, !!python/object/apply:os.system [ls]]", "x[1]", "!!python/object/apply:os.system"),
    ("x: !!python/name:os.system", "x", "!!python/name:os.system"),
    ("x: !custom {a: 1}", "x", "!custom"),
    ("x: " + "9" * 5000, "x", "5000 digits"),
    ("x: .nan", "x", "finite"),
    ("x: -.inf", "x", "finite"),
    ('x: "a\\0b"', "x", "NUL"),
    ('x: "\\ud800"', "x", "surrogate"),
    ("x: {1: a}", "x.1", "not a string"),
    ("x: &a [*a]", "x[0]", "refers to itself"),
    ("x: " + "a" * (plaindata.MAX_STRING_CHARS + 1), "x", "characters"),
])
def test_values_that_are_not_plain_data_are_named_by_their_field(text, field, said):
    data = load_yaml(text)
    problems = check(data, "")
    assert problems, data
    assert problems[0].field.startswith(field) and said in problems[0].message + problems[0].allowed, problems[0]
    assert problems[0].value is None or type(problems[0].value) in (str, int)  # described, never the object


def test_the_loader_never_builds_a_non_plain_python_object():
    data = load_yaml("a: !!binary aGk=\nb: !!set {x}\nc: 2024-01-01\nd: !!python/object:os.system {}\n")
    assert all(isinstance(v, NotPlain) for v in data.values())


def test_billion_laughs_is_refused_quickly():
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    assert len(text) < 1024
    problems = check(load_yaml(text), "")
    assert [p.code for p in problems] == ["TooLarge"]
    assert plaindata.recordable(load_yaml(text)) is not None  # a refused run can record it, bounded


@pytest.mark.parametrize("text", ["[" * 10_000, "a:\n" + "".join("  " * i + "- \n" for i in range(200)),
                                  "{" * 50 + "}" * 50])
def test_deep_nesting_is_a_yaml_error_not_a_crash(text):
    with pytest.raises(yaml.YAMLError):
        load_yaml(text)


@pytest.mark.parametrize("text", ["!!bool foo", "!!int foo", '!!int ""', "!!int _", '!!float ""', "!!float .",
                                  "!!int [1]", "!!seq foo", "!!str [a]", "*undefined", "<<: 1"])
def test_a_core_tag_on_the_wrong_value_is_a_yaml_error_not_a_crash(text):
    with pytest.raises(yaml.YAMLError):
        load_yaml(text)


def test_merge_key_expansion_is_bounded():
    text = "a: &a {x: 1}\n" + "".join(f"b{i}: &b{i} {{<<: [*{'a' if i == 0 else f'b{i - 1}'}], y{i}: 1}}\n"
                                      for i in range(plaindata.MAX_NODES // 50 + 300))
    with pytest.raises(yaml.YAMLError):
        load_yaml(text)


@pytest.mark.parametrize(("raw", "said"), [
    ("[unclosed", "not valid YAML"), ("\udcff\udcfe", "not valid YAML"), ("2024-01-01", "date"),
    ("!!set {a}", "!!set"), ("9" * 5000, "5000 digits"), ('"\\ud800"', "surrogate"),
])
def test_dash_p_values_become_named_refusals(raw, said):
    values = _overrides([f"connection_name={raw}"])
    problems = check(values["connection_name"], "connection_name")
    assert problems and problems[0].field == "connection_name" and said in problems[0].message


def test_policy_metadata_must_be_text():
    base = {"ike_encryption": "AES256", "ike_integrity": "SHA384", "dh_group": "DHGroup24",
            "ipsec_encryption": "AES256", "ipsec_integrity": "SHA256", "pfs_group": "None",
            "sa_life_time_seconds": 14400, "sa_data_size_kilobytes": 102400000}
    for bad in (b"x", {"a"}, [1], 5, {"k": "v"}):
        with pytest.raises(PolicyValidationError) as exc:
            IpsecIkePolicy.from_mapping({**base, "name": bad})
        assert exc.value.problems[0].field == "name"
    IpsecIkePolicy.from_mapping({**base, "name": "ok", "description": "free text"})


# ---- the renderer ---------------------------------------------------------------------------------------
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20 + 1, 10**20 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8).filter(lambda k: "\x00" not in k
                                                                                       and not any("\ud800" <= c <= "\udfff" for c in k)), kids, max_size=4),
    max_leaves=20)


def _same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


@settings(max_examples=300, deadline=None)
@given(PLAIN.filter(lambda v: not check(v, "v")))
def test_rendered_cell_evaluates_to_exactly_the_values_and_nothing_else(value):
    source = render_assignments({"value": value, "other": "'\"); __import__('os')"})
    tree = ast.parse(source)
    assert all(isinstance(s, ast.Assign) for s in tree.body)
    namespace: dict = {}
    exec(compile(tree, "<cell>", "exec"), {"__builtins__": {}}, namespace)  # no builtins: a call would fail
    assert _same(namespace["value"], value)


class _EvilStr(str):
    def __repr__(self) -> str:
        return "__import__('os').system('id')"


@pytest.mark.parametrize("bad", [b"bytes", {"a"}, (1, 2), _EvilStr("x"), float("nan"), NotPlain("x"),
                                 {1: "int key"}, object()])
def test_renderer_refuses_everything_else(bad):
    with pytest.raises((TypeError, ValueError)):
        render_assignments({"x": bad})
    with pytest.raises((TypeError, ValueError)):
        render_literal({"k": [bad]})


def test_verify_refuses_a_cell_that_is_not_plain_assignments():
    with pytest.raises(ValueError):
        plaindata.verify_assignments("x = 1\nprint('hi')\n", {"x": 1})
    with pytest.raises(ValueError):
        plaindata.verify_assignments("x = True\n", {"x": 1})
    with pytest.raises(ValueError):
        plaindata.verify_assignments("x = __import__('os')\n", {"x": 1})


POLICY_YAML = ("ike_encryption: AES256\nike_integrity: SHA384\ndh_group: DHGroup24\nipsec_encryption: AES256\n"
               "ipsec_integrity: SHA256\npfs_group: None\nsa_life_time_seconds: 14400\n"
               "sa_data_size_kilobytes: 102400000\n")


@pytest.mark.parametrize(("text", "field"), [
    ("name: !!binary aGk=\n" + POLICY_YAML, "name"),
    ("description: [1, 2]\n" + POLICY_YAML, "description"),
    ("name: 2024-01-01\n" + POLICY_YAML, "name"),
    ("name: ok\ndescription: !!set {a}\npolicy:\n" + "".join("  " + line + "\n" for line in POLICY_YAML.splitlines()),
     "description"),
    ("name: [x]\npolicy:\n" + "".join("  " + line + "\n" for line in POLICY_YAML.splitlines()), "name"),
])
def test_policy_file_metadata_is_type_checked(tmp_path, text, field):
    from vpnrunbook.policy.model import load_policy_file

    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyValidationError) as exc:
        load_policy_file(path)
    assert [p.field for p in exc.value.problems] == [field]
    path.write_text("name: fine\ndescription: free text\n" + POLICY_YAML)
    assert load_policy_file(path).ike_encryption == "AES256"


YAML_BITS = st.sampled_from(["!!bool ", "!!int ", "!!float ", "!!null ", "!!str ", "!!binary ", "!!set ", "!!omap ",
                             "!!timestamp ", "!x ", "&a ", "*a ", "<<: ", "[", "]", "{", "}", ", ", ": ", "- ", "\n",
                             "\n  ", "? ", '"', "'", "\\", "#", "|", ">", "0x", "1_0", ":", ".inf", "2024-01-01",
                             "yes", "~", "9" * 30, "\\ud800", "\\0", "%YAML 1.1\n", "---\n", "..."])


@settings(max_examples=1500, deadline=None)
@given(st.lists(YAML_BITS | st.text(max_size=3), max_size=30).map("".join))
def test_any_text_loads_to_checkable_data_or_a_yaml_error(text):
    try:
        data = load_yaml(text)
    except yaml.YAMLError:
        return
    problems = check(data, "x")
    if not problems:
        render_assignments({"x": data})  # whatever passes the check renders (and verifies)
    plaindata.recordable(data)
    plaindata.shown(data)
