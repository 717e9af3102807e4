"""The LLM layer: one small async interface (``LLMBackend.complete``), one module per backend."""
