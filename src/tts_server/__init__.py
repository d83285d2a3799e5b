"""tts-server: a self-hosted text-to-speech server speaking OpenAI's and the Dia server's APIs."""

__version__ = "0.1.0"
