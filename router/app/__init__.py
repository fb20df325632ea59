"""Builds the router from its settings, seeds the registry and runs it start to stop."""
