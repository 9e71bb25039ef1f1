"""Small, pure parsers that turn a patient's free text into what a flow needs.

Each module owns one thing (numbers, yes/no, dates, parts of day, specialties,
doctor names, global commands); the word lists live in `words.py` as data so the
translators can extend them without touching code.
"""
