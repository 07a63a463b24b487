"""Lifecycle accounting (layer 1): amortisation of embodied carbon, totals over a period of use,
break-even grid intensities and per-task attribution of LLM work. Pure functions over arrays."""
