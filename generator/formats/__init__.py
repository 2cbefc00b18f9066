"""Readers: turn the user's files into one in-memory model per task type, with a clear error per bad record."""
