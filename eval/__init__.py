"""Evaluation: run question sets through the same service the CLI uses, and score the answers."""
