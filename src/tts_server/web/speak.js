// Speak: the form's settings as one /generate request, sent whole or streamed, played as it arrives.

import { request, showError } from "./api.js";
import { $, formatBytes, formatMs, formatSeconds, hideMessage } from "./dom.js";
import { samplingFields, selectedModel, selectedVoiceId } from "./engines.js";
import { AudioOutput, offerDownload } from "./player.js";

const STATS = ["stat-engine", "stat-ttfb", "stat-total", "stat-audio", "stat-size"];
let output = null;
let controller = null;

/** The form's settings as a /generate body (the WebSocket's jobs take the same fields). */
export function generationRequest() {
  const body = {
    text: $("text").value,
    voice_id: selectedVoiceId(),
    response_format: $("format").value,
    speed: Number($("speed").value),
    ...samplingFields(),
  };
  const model = selectedModel();
  if (model) body.model = model;
  const language = $("language").value.trim();
  if (language) body.language = language;
  return body;
}

export function setUpSpeaking() {
  output = new AudioOutput($("player"));
  $("speak-form").addEventListener("submit", speak);
  $("stop").addEventListener("click", stop);
  $("player").addEventListener("loadedmetadata", showAudioLength);
  $("player").addEventListener("durationchange", showAudioLength);
}

async function speak(event) {
  event.preventDefault();
  stop();
  resetResult();
  const body = { ...generationRequest(), stream: $("stream").checked };
  const ownController = new AbortController();
  controller = ownController;
  setBusy(true);
  try {
    const response = await request("generate", { json: body, signal: ownController.signal });
    await play(response, body);
  } catch (error) {
    if (error.name === "AbortError") note("Stopped: the server cancels the rest of the synthesis.");
    else showError($("speak-error"), error);
  } finally {
    if (controller === ownController) controller = null;
    setBusy(false);
  }
}

async function play(response, body) {
  $("stat-engine").textContent = response.headers.get("X-TTS-Engine") || "–";
  const format = body.response_format;
  const sink = body.stream ? output.streamingSink(format) : null;
  if (body.stream && !sink) note(`Played once complete: only mp3 plays while it streams here.`);
  let size = 0;
  const chunks = await response.chunks(async (chunk) => {
    size += chunk.byteLength;
    showProgress(response.timing, size);
    if (sink) await sink.push(chunk);
  });
  showProgress(response.timing, size);
  const headerSeconds = response.headers.get("X-Audio-Duration");
  if (headerSeconds) $("stat-audio").textContent = formatSeconds(headerSeconds);
  const blob = new Blob(chunks, { type: response.headers.get("Content-Type") || "application/octet-stream" });
  offerDownload($("download"), output, blob, `speech.${format}`);
  $("download").textContent = `Download ${format} (${formatBytes(blob.size)})`;
  const started = await finishPlayback(sink, blob, format);
  if (!started) note("Press play to listen (the browser blocked autoplay).");
}

function finishPlayback(sink, blob, format) {
  if (sink) return sink.end();
  if (!output.canPlay(format)) {
    note(`This browser cannot play ${format}; use the download link.`);
    return Promise.resolve(true);
  }
  if (format === "pcm") note("Raw pcm (s16le mono 24 kHz): the player adds a WAV header; the download is raw.");
  return output.playWhole(blob, format);
}

function showProgress(timing, size) {
  $("stat-ttfb").textContent = formatMs(timing.firstByte);
  $("stat-total").textContent = formatMs(timing.total);
  $("stat-size").textContent = formatBytes(size);
}

function showAudioLength() {
  const seconds = $("player").duration;
  if (Number.isFinite(seconds) && seconds > 0 && $("stat-audio").textContent === "–") {
    $("stat-audio").textContent = formatSeconds(seconds);
  }
}

function stop() {
  if (controller) controller.abort();
  controller = null;
  $("player").pause();
}

function resetResult() {
  hideMessage($("speak-error"));
  hideMessage($("playback-note"));
  $("download").hidden = true;
  output.reset();
  for (const id of STATS) $(id).textContent = "–";
}

function note(text) {
  $("playback-note").textContent = text;
  $("playback-note").hidden = false;
}

function setBusy(busy) {
  $("speak").disabled = busy;
  $("speak").textContent = busy ? "Speaking…" : "Speak";
  $("stop").disabled = !busy;
}
