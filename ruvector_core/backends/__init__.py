"""Backends that ship inside ruvector-core (registered through entry points like any other)."""
