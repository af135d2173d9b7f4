"""Helpers shared by several test modules (and the soak bench): one copy of each."""
