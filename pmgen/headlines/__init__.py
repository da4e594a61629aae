"""Personalized headlines in batch: requests from data files, the job, its resumable output."""
