"""Defences shared by the env, the tools and the harness against hostile text (see docs/env.md, "Untrusted text").

* :mod:`sandbox.safety.text`: every string becomes valid UTF-8 (lone surrogates replaced and counted), and
  agent-supplied Python objects become plain JSON data within depth and size limits.
* :mod:`sandbox.safety.quoting`: the quoting rule for strings that came from a page, a catalog record or the
  agent, safe-charset ids and names for headers, and random-boundary data blocks for LLM prompts.
"""
