"""The prgym harness: LLM policies, scripted baseline, user agent, supervisor, judge, rollouts and the CLI."""
