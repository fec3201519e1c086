"""Adapters to RL training frameworks (each behind its own extra; import the module you need)."""
