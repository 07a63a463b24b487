"""The scenario sweep: parameter space, chunked evaluation, objectives (layer 2)."""
