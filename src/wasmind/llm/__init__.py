"""The LLM endpoint: the ``[litellm]`` section, a local LiteLLM proxy, and the scripted stand-in server."""
