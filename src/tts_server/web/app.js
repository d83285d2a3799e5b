// tts-server playground: plain browser JavaScript, no build step, nothing fetched but this server's API.
"use strict";

(() => {
  // Every request the page makes goes through `call` with one of these (the tests check them against
  // /openapi.json, so keep them as literal "METHOD /path" strings).
  const ENDPOINTS = Object.freeze({
    health: "GET /health",
    voices: "GET /v1/voices",
    speech: "POST /v1/audio/speech",
    upload: "POST /audio_prompts/upload",
  });
  const KEY_STORAGE = "tts-server.api-key";
  const HEALTH_EVERY_MS = 15000;
  const PCM_RATE = 24000; // the server's pcm: s16le mono 24 kHz (OpenAI's definition)
  const PLAYABLE_TYPES = {
    wav: "audio/wav",
    mp3: "audio/mpeg",
    opus: 'audio/ogg; codecs="opus"',
    aac: "audio/aac",
    flac: "audio/flac",
    pcm: "audio/wav", // played as WAV: the page adds a header
  };
  const VOICE_GROUPS = [
    ["builtin", "Built-in"],
    ["reference", "Reference voices"],
    ["mapping", "Voice mappings"],
  ];

  const $ = (id) => document.getElementById(id);
  const session = { controller: null, urls: [] };

  class ApiError extends Error {
    constructor(status, message, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // ---- API key -------------------------------------------------------------------------------------

  function storedKey() {
    try {
      return localStorage.getItem(KEY_STORAGE) || "";
    } catch {
      return ""; // storage disabled: the key lives only as long as the field's value
    }
  }

  function storeKey(key) {
    try {
      if (key) localStorage.setItem(KEY_STORAGE, key);
      else localStorage.removeItem(KEY_STORAGE);
    } catch {
      /* storage disabled */
    }
  }

  function currentKey() {
    return storedKey() || $("api-key").value.trim();
  }

  function showKeyPanel() {
    const panel = $("key-panel");
    if (panel.hidden) {
      panel.hidden = false;
      $("api-key").focus();
    }
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  async function call(name, init = {}) {
    const [method, path] = ENDPOINTS[name].split(" ");
    const headers = new Headers(init.headers || {});
    const key = currentKey();
    if (key) headers.set("Authorization", `Bearer ${key}`);
    const response = await fetch(path, { ...init, method, headers });
    if (!response.ok && !init.acceptErrors) throw await apiError(response);
    return response;
  }

  async function apiError(response) {
    if (response.status === 401) showKeyPanel();
    let message = `${response.status} ${response.statusText}`.trim();
    let code = "";
    try {
      const body = await response.json();
      message = describeDetail(body.detail) || message;
      code = body.error_code || "";
    } catch {
      /* not the JSON envelope (a proxy's page, say): keep the status line */
    }
    return new ApiError(response.status, message, code);
  }

  function describeDetail(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((item) => item.msg || JSON.stringify(item)).join("; ");
    return detail ? JSON.stringify(detail) : "";
  }

  function showError(element, error) {
    let text;
    if (error instanceof ApiError) {
      text = `Error ${error.status}${error.code ? ` (${error.code})` : ""}: ${error.message}`;
      if (error.status === 401) text += " Enter the server's API key above.";
    } else if (error instanceof TypeError) {
      text = `Could not reach the server: ${error.message}`; // what fetch throws when the network fails
    } else {
      text = String(error.message || error);
    }
    element.textContent = text;
    element.hidden = false;
  }

  function clearError(element) {
    element.textContent = "";
    element.hidden = true;
  }

  // ---- health ------------------------------------------------------------------------------------

  async function refreshHealth() {
    const badge = $("health");
    try {
      const response = await call("health", { acceptErrors: true });
      const body = await response.json();
      badge.dataset.status = body.status || "unknown";
      badge.textContent = [body.status, body.provider, body.device].filter(Boolean).join(" · ");
      badge.title = (body.notes || []).join("\n") || `version ${body.version}, up ${body.uptime}`;
    } catch (error) {
      badge.dataset.status = "offline";
      badge.textContent = "offline";
      badge.title = String(error.message || error);
    }
  }

  function watchHealth() {
    refreshHealth();
    setInterval(() => {
      if (document.visibilityState === "visible") refreshHealth();
    }, HEALTH_EVERY_MS);
  }

  // ---- voices ------------------------------------------------------------------------------------

  async function loadVoices(selectId) {
    const select = $("voice");
    const wanted = selectId || select.value;
    try {
      const response = await call("voices");
      const { voices } = await response.json();
      fillVoices(select, voices);
      if ([...select.options].some((option) => option.value === wanted)) select.value = wanted;
      clearError($("speak-error"));
    } catch (error) {
      showError($("speak-error"), error);
    }
  }

  function fillVoices(select, voices) {
    select.replaceChildren();
    for (const [type, label] of VOICE_GROUPS) {
      const members = voices.filter((voice) => voice.type === type);
      if (!members.length) continue;
      const group = document.createElement("optgroup");
      group.label = label;
      for (const voice of members) group.append(voiceOption(voice));
      select.append(group);
    }
  }

  function voiceOption(voice) {
    const option = document.createElement("option");
    option.value = voice.voice_id;
    option.textContent = voiceLabel(voice);
    if (voice.broken) {
      option.disabled = true;
      option.textContent += " [broken]";
    }
    if (voice.description) option.title = voice.description;
    return option;
  }

  function voiceLabel(voice) {
    const id = voice.voice_id;
    const sameName = !voice.name || voice.name.toLowerCase() === id.toLowerCase();
    const title = sameName ? voice.name || id : `${id} – ${voice.name}`;
    const details = [voice.language !== id ? voice.language : null, voice.gender].filter(Boolean).join(", ");
    return details ? `${title} (${details})` : title;
  }

  // ---- speaking ----------------------------------------------------------------------------------

  function speechRequest() {
    const format = $("format").value;
    const body = {
      input: $("text").value,
      voice: $("voice").value || "default",
      response_format: format,
      speed: Number($("speed").value),
      stream: $("stream").checked,
    };
    const language = $("language").value.trim();
    if (language) body.language = language;
    return body;
  }

  async function speak(event) {
    event.preventDefault();
    stopSpeaking();
    resetResult();
    const body = speechRequest();
    const controller = new AbortController();
    session.controller = controller;
    setBusy(true);
    const started = performance.now();
    try {
      const response = await call("speech", {
        body: JSON.stringify(body),
        headers: { "Content-Type": "application/json" },
        signal: controller.signal,
      });
      await playResponse(response, body, started);
    } catch (error) {
      if (error.name === "AbortError") note("Stopped: the server cancels the rest of the synthesis.");
      else showError($("speak-error"), error);
    } finally {
      if (session.controller === controller) session.controller = null;
      setBusy(false);
    }
  }

  async function playResponse(response, body, started) {
    $("stat-engine").textContent = response.headers.get("X-TTS-Engine") || "–";
    const audioSeconds = response.headers.get("X-Audio-Duration");
    const format = body.response_format;
    const sink = body.stream && canStreamProgressively(format) ? mediaSourceSink() : null;
    if (body.stream && !sink) note(`Progressive playback needs mp3 and MediaSource; ${format} plays once complete.`);
    const chunks = await readBody(response, started, sink);
    $("stat-total").textContent = formatMs(performance.now() - started);
    if (audioSeconds) $("stat-audio").textContent = `${Number(audioSeconds).toFixed(2)} s`;
    const blob = new Blob(chunks, { type: response.headers.get("Content-Type") || "application/octet-stream" });
    offerDownload(blob, format);
    if (sink) await sink.end();
    else playWhole(blob, format, chunks);
  }

  async function readBody(response, started, sink) {
    const reader = response.body.getReader();
    const chunks = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return chunks;
      if (!chunks.length) $("stat-ttfb").textContent = formatMs(performance.now() - started);
      chunks.push(value);
      size += value.byteLength;
      $("stat-size").textContent = formatBytes(size);
      if (sink) await sink.push(value);
    }
  }

  function canStreamProgressively(format) {
    return format === "mp3" && "MediaSource" in window && MediaSource.isTypeSupported("audio/mpeg");
  }

  // Appends mp3 frames to a MediaSource as they arrive, so playback starts with the first sentence.
  function mediaSourceSink() {
    const player = $("player");
    const mediaSource = new MediaSource();
    const opened = new Promise((resolve) => mediaSource.addEventListener("sourceopen", resolve, { once: true }));
    player.src = track(URL.createObjectURL(mediaSource));
    let buffer = null;
    return {
      async push(chunk) {
        await opened;
        const first = buffer === null;
        if (first) buffer = mediaSource.addSourceBuffer("audio/mpeg");
        await appendTo(buffer, chunk);
        if (first) startPlayback();
      },
      async end() {
        await opened;
        if (buffer?.updating) await updated(buffer);
        if (mediaSource.readyState === "open") mediaSource.endOfStream();
        showAudioLength();
      },
    };
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

  function playWhole(blob, format, chunks) {
    const player = $("player");
    if (!player.canPlayType(PLAYABLE_TYPES[format])) {
      note(`This browser cannot play ${format}; use the download link.`);
      return;
    }
    const playable = format === "pcm" ? wavFromPcm(chunks) : blob;
    if (format === "pcm") note("Raw pcm (s16le mono 24 kHz): the player adds a WAV header; the download is raw.");
    player.src = track(URL.createObjectURL(playable));
    player.addEventListener("loadedmetadata", showAudioLength, { once: true });
    startPlayback();
  }

  function startPlayback() {
    $("player")
      .play()
      .catch(() => note("Press play to listen (the browser blocked autoplay)."));
  }

  function showAudioLength() {
    const seconds = $("player").duration;
    if (Number.isFinite(seconds) && $("stat-audio").textContent === "–") {
      $("stat-audio").textContent = `${seconds.toFixed(2)} s`;
    }
  }

  function wavFromPcm(chunks) {
    const dataBytes = chunks.reduce((total, chunk) => total + chunk.byteLength, 0);
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
    return new Blob([header.buffer, ...chunks], { type: "audio/wav" });
  }

  function offerDownload(blob, format) {
    const link = $("download");
    link.href = track(URL.createObjectURL(blob));
    link.download = `speech.${format}`;
    link.textContent = `Download ${format} (${formatBytes(blob.size)})`;
    link.hidden = false;
  }

  function stopSpeaking() {
    if (session.controller) session.controller.abort();
    session.controller = null;
    $("player").pause();
  }

  function resetResult() {
    clearError($("speak-error"));
    $("playback-note").hidden = true;
    $("download").hidden = true;
    $("player").removeAttribute("src");
    $("player").load();
    for (const url of session.urls.splice(0)) URL.revokeObjectURL(url);
    for (const id of ["stat-engine", "stat-ttfb", "stat-total", "stat-audio", "stat-size"]) $(id).textContent = "–";
  }

  function track(url) {
    session.urls.push(url);
    return url;
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

  // ---- upload ------------------------------------------------------------------------------------

  async function upload(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    if (!String(data.get("transcript") || "").trim()) data.delete("transcript");
    clearError($("upload-error"));
    $("upload-result").hidden = true;
    $("upload").disabled = true;
    try {
      const response = await call("upload", { body: data });
      const answer = await response.json();
      showUploaded(answer);
      $("prompt-file").value = "";
      await loadVoices(answer.prompt_id);
    } catch (error) {
      showError($("upload-error"), error);
    } finally {
      $("upload").disabled = false;
    }
  }

  function showUploaded(answer) {
    const parts = [`${answer.message}: “${answer.prompt_id}”, ${Number(answer.duration).toFixed(1)} s.`];
    if (answer.transcript) parts.push(`Transcript: “${answer.transcript}”.`);
    if (answer.warning) parts.push(`Note: ${answer.warning}`);
    parts.push("It is now selected as the voice.");
    $("upload-result").textContent = parts.join(" ");
    $("upload-result").hidden = false;
  }

  // ---- formatting and wiring ---------------------------------------------------------------------

  function formatMs(ms) {
    return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
  }

  function formatBytes(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
    return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
  }

  function showSpeed() {
    $("speed-value").textContent = `${Number($("speed").value).toFixed(2)}×`;
  }

  function showTextLength() {
    const count = $("text").value.length;
    $("text-count").textContent = `${count} character${count === 1 ? "" : "s"}`;
  }

  function saveKey(event) {
    event.preventDefault();
    storeKey($("api-key").value.trim());
    $("api-key").value = "";
    $("api-key").placeholder = storedKey() ? "key saved in this browser" : "API key";
    loadVoices();
  }

  function forgetKey() {
    storeKey("");
    $("api-key").value = "";
    $("api-key").placeholder = "API key";
  }

  function init() {
    if (storedKey()) {
      $("key-panel").hidden = false;
      $("api-key").placeholder = "key saved in this browser";
    }
    $("key-form").addEventListener("submit", saveKey);
    $("forget-key").addEventListener("click", forgetKey);
    $("speak-form").addEventListener("submit", speak);
    $("stop").addEventListener("click", stopSpeaking);
    $("upload-form").addEventListener("submit", upload);
    $("speed").addEventListener("input", showSpeed);
    $("text").addEventListener("input", showTextLength);
    $("health").addEventListener("click", refreshHealth);
    showSpeed();
    showTextLength();
    watchHealth();
    loadVoices();
  }

  init();
})();
