"""Pure math: activations, gains, fans and the variance-scaling formula (NumPy only)."""
