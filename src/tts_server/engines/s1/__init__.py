"""OpenAudio S1-mini: the codec (codec*.py) and the text-to-semantic model, our own implementation."""
