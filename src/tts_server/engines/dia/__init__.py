"""Dia 1.6B on transformers' weights with our own batched decoder: loading, text, sampling, generation,
streaming, voices and the engine its worker thread runs."""
