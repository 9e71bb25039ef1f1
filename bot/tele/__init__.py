"""Telemedicine: meeting rooms, per-participant JWTs and the short join redirect."""
