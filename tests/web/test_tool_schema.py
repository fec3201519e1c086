"""OpenAI function schemas and argument validation generated from typed Python functions."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from sandbox.tools import function_schema, validate_arguments
from sandbox.tools.schema import parse_docstring
from sandbox.web import LocalCorpus, WebTools, build_corpus


class PriceRange(BaseModel):
    low: float | None = None
    high: float | None = None


class Sort(str, Enum):
    relevance = "relevance"
    price_asc = "price_asc"


def product_search(
    query: str,
    price: PriceRange | None = None,
    sort: Sort = Sort.relevance,
    page: Annotated[int, Field(ge=1, le=50)] = 1,
    brands: list[str] | None = None,
    mode: Literal["lexical", "dense"] = "lexical",
    schema: str = "v1",
) -> list[str]:
    """Search the product catalog.

    This second paragraph is not part of the description.

    Args:
        query (str): Words to look for; may be empty
            to browse by filters.
        price: Price range in the catalog currency.
        page: Result page, starting at 1.
        brands: Any of these brands.

    Returns:
        Product ids.
    """
    return [query]


def test_schema_shape_and_descriptions() -> None:
    schema = function_schema(product_search)
    assert schema["type"] == "function"
    function = schema["function"]
    assert function["name"] == "product_search"
    assert function["description"] == "Search the product catalog."
    params = function["parameters"]
    assert params["type"] == "object" and params["additionalProperties"] is False
    assert params["required"] == ["query"]
    props = params["properties"]
    assert list(props) == ["query", "price", "sort", "page", "brands", "mode", "schema"]
    assert props["query"] == {
        "type": "string",
        "description": "Words to look for; may be empty to browse by filters.",
    }
    assert props["page"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 50,
        "default": 1,
        "description": "Result page, starting at 1.",
    }
    assert props["mode"]["enum"] == ["lexical", "dense"]
    assert props["brands"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert props["price"]["anyOf"][0] == {"$ref": "#/$defs/PriceRange"}
    assert "PriceRange" in params["$defs"] and "Sort" in params["$defs"]
    assert not _auto_titles(params)  # pydantic's generated "title" keys are gone


def _auto_titles(node: object, in_properties: bool = False) -> list[str]:
    """Every schema-level ``title`` keyword left in ``node`` (a property *named* title is fine)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "title" and isinstance(value, str) and not in_properties:
                found.append(value)
            found += _auto_titles(value, in_properties=key in ("properties", "$defs"))
    elif isinstance(node, list):
        for item in node:
            found += _auto_titles(item)
    return found


def test_a_parameter_named_title_survives() -> None:
    def rename(title: str, model_config: int = 0) -> None:
        """Rename.

        Args:
            title: The new title.
        """

    props = function_schema(rename)["function"]["parameters"]["properties"]
    assert props["title"] == {"type": "string", "description": "The new title."}
    assert validate_arguments(rename, {"title": "x", "model_config": 2}) == {"title": "x", "model_config": 2}


def test_name_and_description_overrides() -> None:
    schema = function_schema(product_search, name="find_product", description="Find.")
    assert schema["function"]["name"] == "find_product" and schema["function"]["description"] == "Find."


def test_validate_arguments_converts_and_fills_defaults() -> None:
    kwargs = validate_arguments(
        product_search, {"query": "kettle", "price": {"high": "50"}, "page": "2", "sort": "price_asc"}
    )
    assert kwargs == {
        "query": "kettle",
        "price": PriceRange(high=50.0),
        "sort": Sort.price_asc,
        "page": 2,
        "brands": None,
        "mode": "lexical",
        "schema": "v1",
    }
    assert product_search(**kwargs) == ["kettle"]


@pytest.mark.parametrize(
    ("arguments", "field", "kind"),
    [
        ({}, "query", "missing"),
        ({"query": 3}, "query", "string_type"),
        ({"query": "x", "page": 0}, "page", "greater_than_equal"),
        ({"query": "x", "colour": "red"}, "colour", "extra_forbidden"),
        ({"query": "x", "mode": "fuzzy"}, "mode", "literal_error"),
        ({"query": "x", "price": {"low": "cheap"}}, "price", "float_parsing"),
        ({"query": "x", "brands": "acme"}, "brands", "list_type"),
    ],
)
def test_validation_errors_name_the_field(arguments: dict, field: str, kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_arguments(product_search, arguments)
    errors = info.value.errors()
    assert errors[0]["loc"][0] == field and errors[0]["type"] == kind


def test_unsupported_signatures_are_rejected() -> None:
    def untyped(x, y: int) -> None:  # noqa: ANN001
        """Doc."""

    def star(*items: int) -> None:
        """Doc."""

    with pytest.raises(TypeError, match="parameter 'x' needs a type annotation"):
        function_schema(untyped)
    with pytest.raises(TypeError, match="cannot be described"):
        function_schema(star)


def test_docstring_parsing() -> None:
    parsed = parse_docstring(product_search.__doc__)
    assert parsed.description == "Search the product catalog."
    assert parsed.params == {
        "query": "Words to look for; may be empty to browse by filters.",
        "price": "Price range in the catalog currency.",
        "page": "Result page, starting at 1.",
        "brands": "Any of these brands.",
    }
    assert parse_docstring(None) == ("", {})
    assert parse_docstring("One line\ncontinued.\n\nArgs:\n    a: A.").description == "One line continued."


def test_web_tool_schemas_and_call(tmp_path: Path) -> None:
    src = tmp_path / "d.jsonl"
    src.write_text('{"url": "https://a.test/", "title": "Acme kettle", "text": "1.7 litre kettle, $49.99"}\n')
    build_corpus(src, tmp_path / "corpus")
    corpus = LocalCorpus(tmp_path / "corpus")
    tools = WebTools(corpus, [corpus], mode="live", max_queries=3)
    search, visit = tools.schemas()
    assert search["function"]["name"] == "web_search" and visit["function"]["name"] == "web_visit"
    queries = search["function"]["parameters"]["properties"]["queries"]
    assert queries["type"] == "array" and queries["maxItems"] == 3 and queries["minItems"] == 1
    assert search["function"]["parameters"]["required"] == ["queries"]
    assert visit["function"]["parameters"]["required"] == ["urls", "goal"]
    assert "goal" in visit["function"]["parameters"]["properties"]
    assert visit["function"]["description"].startswith("Read web pages")
    assert tools.call("web_search", {"queries": ["kettle"]})[0].results[0].url == "https://a.test/"
    with pytest.raises(ValidationError, match="urls"):
        tools.call("web_visit", {"urls": "https://a.test/", "goal": "price"})
    with pytest.raises(KeyError):
        tools.call("web_crawl", {})
