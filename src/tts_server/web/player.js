// Playing audio the server made: whole files, mp3 as it streams (MediaSource), and raw pcm (given a header).

export const PCM_RATE = 24000; // the server's pcm: s16le mono 24 kHz (OpenAI's definition)
const PLAYABLE_TYPES = {
  wav: "audio/wav",
  mp3: "audio/mpeg",
  opus: 'audio/ogg; codecs="opus"',
  aac: "audio/aac",
  flac: "audio/flac",
  pcm: "audio/wav", // played as WAV: the page adds a header
};

/** One <audio> element and the object URLs it played, revoked when it is reset. */
export class AudioOutput {
  constructor(player) {
    this.player = player;
    this.urls = [];
  }

  reset() {
    this.player.pause();
    this.player.removeAttribute("src");
    this.player.removeAttribute("data-playback");
    this.player.load();
    for (const url of this.urls.splice(0)) URL.revokeObjectURL(url);
  }

  objectUrl(source) {
    const url = URL.createObjectURL(source);
    this.urls.push(url);
    return url;
  }

  canPlay(format) {
    return this.player.canPlayType(PLAYABLE_TYPES[format]) !== "";
  }

  /** Plays a whole file; pcm gets a WAV header first. Resolves false when the browser blocked autoplay. */
  playWhole(blob, format) {
    const playable = format === "pcm" ? wavFromPcm(blob) : blob;
    this.player.src = this.objectUrl(playable);
    this.player.dataset.playback = "whole";
    return this.start();
  }

  /** A sink that plays mp3 while it arrives, or null where this browser cannot. */
  streamingSink(format) {
    if (format !== "mp3" || !("MediaSource" in window) || !MediaSource.isTypeSupported("audio/mpeg")) return null;
    this.player.dataset.playback = "progressive";
    return new MediaSourceSink(this, "audio/mpeg");
  }

  start() {
    return this.player.play().then(
      () => true,
      () => false,
    );
  }
}

// Appends frames to a MediaSource as they arrive, so playback starts with the first sentence.
class MediaSourceSink {
  constructor(output, mimeType) {
    this.output = output;
    this.mimeType = mimeType;
    this.mediaSource = new MediaSource();
    this.opened = new Promise((resolve) =>
      this.mediaSource.addEventListener("sourceopen", resolve, { once: true }),
    );
    this.buffer = null;
    this.started = null;
    output.player.src = output.objectUrl(this.mediaSource);
  }

  async push(chunk) {
    await this.opened;
    if (this.buffer === null) this.buffer = this.mediaSource.addSourceBuffer(this.mimeType);
    await appendTo(this.buffer, chunk);
    if (this.started === null) this.started = this.output.start();
  }

  /** Ends the stream; resolves to whether playback started (false: the browser blocked autoplay). */
  async end() {
    await this.opened;
    if (this.buffer?.updating) await updated(this.buffer);
    if (this.mediaSource.readyState === "open") this.mediaSource.endOfStream();
    return this.started ?? false;
  }
}

function appendTo(buffer, chunk) {
  const done = updated(buffer);
  buffer.appendBuffer(chunk);
  return done;
}

function updated(buffer) {
  return new Promise((resolve, reject) => {
    const finish = (event) => {
      buffer.removeEventListener("updateend", finish);
      buffer.removeEventListener("error", finish);
      if (event.type === "error") reject(new Error("The browser could not decode the audio stream."));
      else resolve();
    };
    buffer.addEventListener("updateend", finish);
    buffer.addEventListener("error", finish);
  });
}

/** A WAV file around raw s16le mono samples at PCM_RATE. */
export function wavFromPcm(pcm) {
  const dataBytes = pcm.size;
  const header = new DataView(new ArrayBuffer(44));
  const ascii = (offset, text) => [...text].forEach((c, i) => header.setUint8(offset + i, c.charCodeAt(0)));
  ascii(0, "RIFF");
  header.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVEfmt ");
  header.setUint32(16, 16, true); // fmt chunk size
  header.setUint16(20, 1, true); // integer PCM
  header.setUint16(22, 1, true); // mono
  header.setUint32(24, PCM_RATE, true);
  header.setUint32(28, PCM_RATE * 2, true); // bytes per second
  header.setUint16(32, 2, true); // bytes per frame
  header.setUint16(34, 16, true); // bits per sample
  ascii(36, "data");
  header.setUint32(40, dataBytes, true);
  return new Blob([header.buffer, pcm], { type: "audio/wav" });
}

/** Points a download link at `blob`, named for its format. */
export function offerDownload(link, output, blob, name) {
  link.href = output.objectUrl(blob);
  link.download = name;
  link.hidden = false;
}
