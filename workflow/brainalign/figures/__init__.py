"""Figures of a study's results, one module per figure, each drawing from tidy tables or stores."""
