"""Embodied (manufacturing) carbon models: pure functions over numbers and arrays (layer 1)."""
