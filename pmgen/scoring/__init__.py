"""Scorers of generated content: ROUGE for headlines (``pmgen.scoring.rouge``)."""
