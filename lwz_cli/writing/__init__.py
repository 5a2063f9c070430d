"""Prompts, parsing, length and the strategies that turn a request into a document."""
