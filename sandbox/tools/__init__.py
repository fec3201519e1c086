"""Helpers shared by every agent tool: OpenAI function schemas and argument validation from Python signatures."""

from sandbox.tools.schema import function_schema, validate_arguments

__all__ = ["function_schema", "validate_arguments"]
