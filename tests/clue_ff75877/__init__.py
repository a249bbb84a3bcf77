"""CLUE's own 2024 prompt-building code (ff75877, MIT), the oracle for clue-client's CLUE 2024 prompts."""
