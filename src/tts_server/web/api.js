// Every request the page makes: the API key, the error envelope, and the timing of each request.

import { showMessage } from "./dom.js";

// Every HTTP request goes through `request` with one of these (the tests check them against /openapi.json,
// so keep them as literal "METHOD /path" strings; {name} is filled from `params`).
export const ENDPOINTS = Object.freeze({
  health: "GET /health",
  models: "GET /v1/models",
  voices: "GET /v1/voices",
  generate: "POST /generate",
  prompts: "GET /audio_prompts/metadata",
  promptAudio: "GET /audio_prompts/{prompt_id}/audio",
  upload: "POST /audio_prompts/upload",
  setTranscript: "PUT /audio_prompts/{prompt_id}/transcript",
  deletePrompt: "DELETE /audio_prompts/{prompt_id}",
  mappings: "GET /v1/voice_mappings",
  saveMapping: "POST /voice_mappings",
  deleteMapping: "DELETE /voice_mappings/{voice_id}",
  jobResult: "GET /jobs/{job_id}/result",
});
export const SOCKET_PATH = "/ws/generate";

const KEY_STORAGE = "tts-server.api-key";
const listeners = { unauthorized: [], timing: [] };
let keyInMemory = ""; // used when the browser refuses storage

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Subscribe to "unauthorized" (a 401 came back) or "timing" (a request's timing changed). */
export function on(event, listener) {
  listeners[event].push(listener);
}

function emit(event, value) {
  for (const listener of listeners[event]) listener(value);
}

// ---- the API key ---------------------------------------------------------------------------------

export function apiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || keyInMemory;
  } catch {
    return keyInMemory;
  }
}

export function setApiKey(key) {
  keyInMemory = key;
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage disabled: the key lives as long as the page */
  }
}

// ---- requests ------------------------------------------------------------------------------------

let nextTimingId = 1;

/** One request's timing: `firstByte` and `total` in ms from the start, as the log shows them. */
class Timing {
  constructor(label, quiet) {
    this.id = nextTimingId++;
    this.label = label;
    this.quiet = quiet;
    this.started = performance.now();
    this.status = "…";
    this.firstByte = null;
    this.total = null;
    this.update();
  }

  update(changes = {}) {
    Object.assign(this, changes);
    if (!this.quiet) emit("timing", this);
  }

  elapsed() {
    return performance.now() - this.started;
  }

  sawBytes() {
    if (this.firstByte === null) this.update({ firstByte: this.elapsed() });
  }

  finish(status = this.status) {
    if (this.firstByte === null) this.firstByte = this.elapsed();
    this.update({ status, total: this.elapsed() });
  }
}

/** Starts the timing of a request made some other way (the WebSocket), so the log shows it too. */
export function startTiming(label) {
  return new Timing(label, false);
}

/** Sends a request to ENDPOINTS[name]; resolves to a TimedResponse, or throws ApiError for an error status
 * (unless `allowError`). `quiet` keeps it out of the request log (the health poll). */
export async function request(name, { params = {}, query = null, json, body, signal, quiet = false, allowError = false } = {}) {
  const [method, template] = ENDPOINTS[name].split(" ");
  const path = fillPath(template, params) + (query ? `?${new URLSearchParams(query)}` : "");
  const timing = new Timing(`${method} ${path}`, quiet);
  const headers = new Headers();
  if (apiKey()) headers.set("Authorization", `Bearer ${apiKey()}`);
  if (json !== undefined) headers.set("Content-Type", "application/json");
  let response;
  try {
    response = await fetch(path, { method, headers, signal, body: json !== undefined ? JSON.stringify(json) : body });
  } catch (error) {
    timing.finish(error.name === "AbortError" ? "stopped" : "failed");
    throw error;
  }
  timing.update({ status: response.status });
  const timed = new TimedResponse(response, timing);
  if (!response.ok && !allowError) throw await apiError(timed);
  return timed;
}

function fillPath(template, params) {
  return template.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(params[key]));
}

/** A response whose body is read through it, so the first byte and the end are timed. */
export class TimedResponse {
  constructor(response, timing) {
    this.response = response;
    this.headers = response.headers;
    this.timing = timing;
  }

  /** Reads the body, calling `onChunk(bytes)` for each piece as it arrives; resolves to the pieces. */
  async chunks(onChunk = null) {
    const pieces = [];
    try {
      const reader = this.response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.timing.sawBytes();
        pieces.push(value);
        if (onChunk) await onChunk(value);
      }
    } catch (error) {
      this.timing.finish(error.name === "AbortError" ? "stopped" : "failed");
      throw error;
    }
    this.timing.finish();
    return pieces;
  }

  async blob() {
    const type = this.headers.get("Content-Type") || "application/octet-stream";
    return new Blob(await this.chunks(), { type });
  }

  async text() {
    return new TextDecoder().decode(await (await this.blob()).arrayBuffer());
  }

  async json() {
    return JSON.parse(await this.text());
  }
}

async function apiError(timed) {
  const { response } = timed;
  if (response.status === 401) emit("unauthorized", null);
  let message = `${response.status} ${response.statusText}`.trim();
  let code = "";
  try {
    const body = JSON.parse(await timed.text());
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

/** What to tell the user about a failed request. */
export function describeError(error) {
  if (error instanceof ApiError) {
    let text = `Error ${error.status}${error.code ? ` (${error.code})` : ""}: ${error.message}`;
    if (error.status === 401) text += " Enter the server's API key above.";
    return text;
  }
  if (error instanceof TypeError) return `Could not reach the server: ${error.message}`; // fetch's network failure
  return String(error.message || error);
}

export function showError(target, error) {
  showMessage(target, describeError(error));
}
