"""Generators: headline LLM, cover diffusion and poster layout. Knows nothing of behaviour logs."""
