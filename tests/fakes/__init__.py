"""Fake external services served on 127.0.0.1 over real HTTP, for unit and integration tests."""
