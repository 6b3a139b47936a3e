"""Adapters to other libraries. Each imports its library lazily, on use."""
