"""Turning chunks into events: motion facts, and (with models) descriptions and judgements."""
