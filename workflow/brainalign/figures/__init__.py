"""Figures of a study, drawn from its stores (xarray) with matplotlib's Agg backend.

One module per kind of figure; each has a function that takes the opened stores (or tables made
from them) and writes a PNG, and returns the numbers it drew so that tests can check them.
"""
