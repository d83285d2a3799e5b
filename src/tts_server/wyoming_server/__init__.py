"""The Wyoming protocol (Home Assistant's voice pipeline): a TCP server in the same process as the HTTP API,
speaking with the same engines and voices. Off unless TTS_WYOMING_PORT is set."""
