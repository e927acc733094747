"""Persons, cards, card lifecycle, one-person-one-card, cities."""
