"""The input-validation matrix (reference §6.6 with the fixes of SPEC §6.3), end to end, blocking.

The built-in echo model answers with the rendered prompt, so what the validator let through is visible
in ``answer``: the form app's ``pre_prompt`` names every variable, plus one the form does not declare.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import assert_error, complete
from tests.conftest import RunningServer, SeededApp, dsl, seed

FORM = [
    {"text-input": {"variable": "name", "label": "Name", "required": True, "max_length": 5}},
    {"paragraph": {"variable": "bio", "label": "Bio", "required": False}},
    {"select": {"variable": "color", "label": "Color", "required": False, "options": ["a", "b"]}},
    {"number": {"variable": "count", "label": "Count", "required": False}},
    {"checkbox": {"variable": "agree", "label": "Agree", "required": False}},
    {"text-input": {"variable": "greeting", "label": "Greeting", "required": False, "default": "hi"}},
]
PRE_PROMPT = (
    "name={{name}}|bio={{bio}}|color={{color}}|count={{count}}|agree={{agree}}|greeting={{greeting}}|secret={{secret}}"
)
DEFAULTS = {
    "name": "Ann",
    "bio": "",
    "color": "",
    "count": "",
    "agree": "",
    "greeting": "hi",
    "secret": "{{secret}}",  # undeclared: never substituted, the placeholder stays verbatim
}


def rendered(**values: str) -> str:
    """The echoed answer for a chat model and an empty query: ``[user: pre_prompt + "\\n"]``."""
    merged = {**DEFAULTS, **values}
    return "|".join(f"{key}={value}" for key, value in merged.items()) + "\n"


@pytest.fixture(scope="module")
async def form_app(server: RunningServer) -> SeededApp:
    return await seed(server, dsl(f"form-{uuid.uuid4().hex[:6]}", pre_prompt=PRE_PROMPT, user_input_form=FORM))


async def answer_of(client: httpx.AsyncClient, app: SeededApp, inputs: Any, **extra: Any) -> str:
    resp = await complete(client, app, inputs, **extra)
    assert resp.status_code == 200, resp.text
    answer = resp.json()["answer"]
    assert isinstance(answer, str)
    return answer


# --------------------------------------------------------------------------------------------------
# rejections: 400 invalid_param with the reference wording


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        pytest.param({}, "name is required in input form", id="required-missing"),
        pytest.param({"name": None}, "name is required in input form", id="required-null"),
        pytest.param({"name": ""}, "name is required in input form", id="required-empty"),
        pytest.param({"name": "   "}, "name is required in input form", id="required-blank"),
        pytest.param({"name": "\x00\x00"}, "name is required in input form", id="required-only-nul"),
        pytest.param({"name": 5}, "(type 'text-input') name in input form must be a string", id="text-number"),
        pytest.param({"name": ["A"]}, "(type 'text-input') name in input form must be a string", id="text-list"),
        pytest.param({"name": {"a": 1}}, "(type 'text-input') name in input form must be a string", id="text-dict"),
        pytest.param({"name": True}, "(type 'text-input') name in input form must be a string", id="text-bool"),
        pytest.param({"name": "A", "bio": 1.5}, "(type 'paragraph') bio in input form must be a string", id="para-num"),
        pytest.param({"name": "A", "bio": []}, "(type 'paragraph') bio in input form must be a string", id="para-list"),
        pytest.param({"name": "A", "color": 1}, "(type 'select') color in input form must be a string", id="sel-num"),
        pytest.param({"name": "A", "color": {}}, "(type 'select') color in input form must be a string", id="sel-dict"),
        pytest.param(
            {"name": "A", "color": "c"},
            "color in input form must be one of the following: ['a', 'b']",
            id="select-not-in-options",
        ),
        pytest.param(
            {"name": "A", "color": "A"},
            "color in input form must be one of the following: ['a', 'b']",
            id="select-case-sensitive",
        ),
        pytest.param({"name": "abcdef"}, "name in input form must be less than 5 characters", id="max-length-plus-one"),
        pytest.param({"name": "A", "count": "abc"}, "count in input form must be a valid number", id="number-text"),
        pytest.param({"name": "A", "count": "1.2.3"}, "count in input form must be a valid number", id="number-dots"),
        pytest.param({"name": "A", "count": [1]}, "count in input form must be a valid number", id="number-list"),
        pytest.param({"name": "A", "count": {"n": 1}}, "count in input form must be a valid number", id="number-dict"),
        pytest.param({"name": "A", "count": True}, "count in input form must be a valid number", id="number-bool"),
        pytest.param({"name": "A", "count": "1e999"}, "count in input form must be a valid number", id="number-inf"),
        pytest.param({"name": "A", "count": "nan"}, "count in input form must be a valid number", id="number-nan"),
    ],
)
async def test_invalid_inputs_are_400_with_reference_wording(
    client: httpx.AsyncClient, form_app: SeededApp, inputs: dict[str, Any], message: str
) -> None:
    resp = await complete(client, form_app, inputs)
    assert_error(resp, 400, "invalid_param", message)


async def test_streaming_requests_get_the_same_plain_http_error(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    # validation happens before the event stream opens (SPEC §3)
    resp = await complete(client, form_app, {"name": "abcdef"}, response_mode="streaming")
    assert not resp.headers["content-type"].startswith("text/event-stream")
    assert_error(resp, 400, "invalid_param", "name in input form must be less than 5 characters")


async def test_checkbox_rejects_values_that_are_not_booleans(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    for value in ("maybe", 2, [True], {"x": 1}):
        resp = await complete(client, form_app, {"name": "A", "agree": value})
        assert_error(resp, 400, "invalid_param", "(type 'checkbox') agree in input form must be a boolean")


async def test_inputs_must_be_an_object(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    for value in ([], "name=A", 1, None):
        resp = await complete(client, form_app, value)
        body = assert_error(resp, 400, "invalid_param")
        assert body["message"].startswith("inputs"), body


# --------------------------------------------------------------------------------------------------
# accepted values, observed through the echoed prompt


async def test_optional_missing_renders_empty_and_default_applies(
    client: httpx.AsyncClient, form_app: SeededApp
) -> None:
    answer = await answer_of(client, form_app, {"name": "Ann"})
    assert answer == rendered()
    assert "None" not in answer


async def test_optional_null_and_empty_render_empty_never_none(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    inputs = {"name": "Ann", "bio": None, "color": "", "count": None, "agree": None, "greeting": None}
    answer = await answer_of(client, form_app, inputs)
    assert answer == rendered()
    assert "None" not in answer


async def test_given_value_wins_over_default(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    assert await answer_of(client, form_app, {"name": "Ann", "greeting": "hey"}) == rendered(greeting="hey")


async def test_every_field_filled(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    inputs = {"name": "Bo", "bio": "a b\nc", "color": "b", "count": 3, "agree": True, "greeting": "yo"}
    answer = await answer_of(client, form_app, inputs)
    assert answer == rendered(name="Bo", bio="a b\nc", color="b", count="3", agree="true", greeting="yo")


async def test_max_length_allows_exactly_n(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    assert await answer_of(client, form_app, {"name": "abcde"}) == rendered(name="abcde")


async def test_max_length_counts_characters_not_bytes(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    assert await answer_of(client, form_app, {"name": "ééééé"}) == rendered(name="ééééé")


async def test_long_values_without_max_length(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    bio = "z" * 5000
    assert await answer_of(client, form_app, {"name": "Ann", "bio": bio}) == rendered(bio=bio)


@pytest.mark.parametrize(
    ("value", "shown"),
    [("3", "3"), ("2.5", "2.5"), (7, "7"), (-4, "-4"), (0.25, "0.25"), (" 12 ", "12"), ("0", "0"), (0, "0")],
)
async def test_numbers_pass_and_render(client: httpx.AsyncClient, form_app: SeededApp, value: Any, shown: str) -> None:
    assert await answer_of(client, form_app, {"name": "Ann", "count": value}) == rendered(count=shown)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(True, "true"), (False, "false"), ("yes", "true"), ("ON", "true"), ("no", "false"), (0, "false"), (1, "true")],
)
async def test_checkbox_values_pass(client: httpx.AsyncClient, form_app: SeededApp, value: Any, shown: str) -> None:
    assert await answer_of(client, form_app, {"name": "Ann", "agree": value}) == rendered(agree=shown)


async def test_select_in_options_passes(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    assert await answer_of(client, form_app, {"name": "Ann", "color": "a"}) == rendered(color="a")


async def test_undeclared_inputs_are_dropped(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    answer = await answer_of(client, form_app, {"name": "Ann", "secret": "LEAKED", "other": {"deep": [1, 2]}})
    assert answer == rendered()
    assert "LEAKED" not in answer


async def test_nul_bytes_are_stripped_from_inputs_and_query(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    inputs = {"name": "A\x00nn", "bio": "b\x00io\x00"}
    answer = await answer_of(client, form_app, inputs, query="q\x00uery")
    # chat model, non-empty query: [system: body, user: query]
    assert answer == rendered(bio="bio") + "\n" + "query"
    assert "\x00" not in answer


async def test_nul_bytes_do_not_count_towards_max_length(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    assert await answer_of(client, form_app, {"name": "abc\x00de\x00"}) == rendered(name="abcde")


async def test_substituted_values_cannot_inject_placeholders(client: httpx.AsyncClient, form_app: SeededApp) -> None:
    answer = await answer_of(client, form_app, {"name": "Ann", "bio": "{{name}}<|endoftext|>{{#query#}}"})
    assert answer == rendered(bio="{name}{#query#}")


# --------------------------------------------------------------------------------------------------
# the legacy top-level `query`


async def test_legacy_query_fills_a_declared_query_variable(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    # `{{query}}` is required in the echo app's form; the top-level query satisfies it, NUL stripped
    answer = await answer_of(client, shared_app, {}, query="hel\x00lo")
    # the body is "hello\n"; the query is non-empty, so the chat model also gets it as the user message
    assert answer == "hello\n\nhello"


async def test_inputs_query_wins_over_legacy_query(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    answer = await answer_of(client, shared_app, {"query": "from inputs"}, query="from query")
    assert answer == "from inputs\n\nfrom query"


async def test_required_query_missing_everywhere(client: httpx.AsyncClient, shared_app: SeededApp) -> None:
    for extra in ({}, {"query": ""}, {"query": "\x00"}):
        resp = await complete(client, shared_app, {}, **extra)
        assert_error(resp, 400, "invalid_param", "query is required in input form")


async def test_query_does_not_fill_an_undeclared_query_variable(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    app = await seed(server, dsl(f"noq-{uuid.uuid4().hex[:6]}", pre_prompt="q={{query}}", user_input_form=[]))
    # nothing declares `query`: the placeholder stays, the query only goes in as the user message
    assert await answer_of(client, app, {}, query="hi") == "q={{query}}\n\nhi"
    assert await answer_of(client, app, {"query": "x"}) == "q={{query}}\n"
