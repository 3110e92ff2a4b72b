"""The OpenAI-compatible LLM gateway: /v1/chat/completions and /v1/models (see docs/gateway.md)."""
