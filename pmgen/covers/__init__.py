"""Personalized covers and posters in batch: the job, its set-up from names and folders."""
