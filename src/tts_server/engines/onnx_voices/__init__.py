"""What the ONNX voice engines (Piper, Kokoro) share: onnxruntime sessions, espeak phonemes, the sentence loop."""
