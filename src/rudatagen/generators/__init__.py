"""Generators: turn source texts into LLM requests and validated answers into dataset rows."""
