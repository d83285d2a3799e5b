// Engines and voices as the API lists them: the engine and voice pickers, the health badge, and which
// sampling controls show (each engine says which sampling fields it honours in /v1/models).

import { request } from "./api.js";
import { $, element } from "./dom.js";

const HEALTH_EVERY_MS = 15000;
// Sampling controls on the page -> the /generate field each one fills.
const SAMPLING_FIELDS = {
  temperature: "temperature",
  top_p: "top_p",
  top_k: "top_k",
  cfg_scale: "cfg_scale",
  repetition_penalty: "repetition_penalty",
  max_new_tokens: "max_tokens",
  seed: "seed",
};
const CLONING_TEXT = { full: "clones it", approximate: "approximates it (pitch and rate)", none: "cannot use it" };

const catalog = {
  defaultEngine: null,
  engines: new Map(), // id -> {id, name, ready, state, detail, capabilities}
  voices: new Map(), // option value -> a /v1/voices entry
  readySignature: "",
};

// ---- health --------------------------------------------------------------------------------------

/** Refreshes the badge from /health (which needs no key); resolves to its body, or null when unreachable. */
export async function refreshHealth({ quiet = false } = {}) {
  const badge = $("health");
  try {
    // 503 is an answer too: the default engine failed, and the body says why
    const body = await request("health", { quiet, allowError: true }).then((response) => response.json());
    showHealth(badge, body);
    return body;
  } catch (error) {
    badge.dataset.status = "offline";
    badge.textContent = "offline";
    badge.title = String(error.message || error);
    return null;
  }
}

function showHealth(badge, body) {
  badge.dataset.status = body.status || "unknown";
  badge.textContent = [body.status, body.provider, body.device].filter(Boolean).join(" · ");
  badge.title = (body.notes || []).join("\n") || `version ${body.version}, up ${body.uptime}`;
}

/** Polls health while the page is visible; reloads the pickers when an engine becomes ready or stops. */
export function watchHealth(onEnginesChanged) {
  setInterval(async () => {
    if (document.visibilityState !== "visible") return;
    const body = await refreshHealth({ quiet: true });
    if (body && readySignature(body.engines) !== catalog.readySignature) onEnginesChanged();
  }, HEALTH_EVERY_MS);
}

function readySignature(engines) {
  return engines
    .filter((engine) => engine.state === "ready")
    .map((engine) => engine.id)
    .join(",");
}

// ---- loading the catalog -------------------------------------------------------------------------

/** Loads engines (/health, /v1/models) and the voices of each ready engine, then fills the pickers. */
export async function loadCatalog() {
  const health = await refreshHealth();
  // noted before the requests that need a key, so a refused load is not retried at every health poll
  if (health) catalog.readySignature = readySignature(health.engines);
  const models = await request("models").then((response) => response.json());
  const engines = enginesFrom(models.data, health);
  const ready = [...engines.values()].filter((engine) => engine.ready);
  const listings = await Promise.all(
    ready.map((engine) => request("voices", { query: { engine: engine.id } }).then((response) => response.json())),
  );
  const wanted = { engine: selectedModel(), voice: $("voice").value };
  catalog.defaultEngine = health?.provider || ready[0]?.id || null;
  catalog.engines = engines;
  fillEngines(wanted.engine);
  fillVoices(ready, listings, wanted.voice);
  engineChanged();
}

function enginesFrom(cards, health) {
  const states = new Map((health?.engines || []).map((engine) => [engine.id, engine]));
  const engines = new Map();
  for (const card of cards) {
    if (card.engine !== card.id) continue; // an alias of the default engine
    const state = states.get(card.id);
    engines.set(card.id, {
      id: card.id,
      name: card.name || card.id,
      ready: card.ready,
      state: state?.state || (card.ready ? "ready" : "not ready"),
      detail: state?.detail || "",
      capabilities: card.capabilities || { sampling_params: [], cloning: "none", streaming: true },
    });
  }
  return engines;
}

// ---- the engine picker ---------------------------------------------------------------------------

function fillEngines(wanted) {
  const select = $("engine");
  select.replaceChildren(...[...catalog.engines.values()].map(engineOption));
  const fallback = catalog.engines.get(catalog.defaultEngine)?.ready ? catalog.defaultEngine : null;
  select.value = catalog.engines.get(wanted)?.ready ? wanted : fallback || "";
}

function engineOption(engine) {
  const marks = [engine.id === catalog.defaultEngine ? "default" : null, engine.ready ? null : engine.state];
  const suffix = marks.filter(Boolean).join(", ");
  const option = element("option", { value: engine.id }, `${engine.id}${suffix ? ` (${suffix})` : ""}`);
  option.disabled = !engine.ready;
  option.title = [engine.name, engine.detail].filter(Boolean).join(": ");
  return option;
}

export function selectedModel() {
  return $("engine").value || null;
}

function selectedEngine() {
  return catalog.engines.get(selectedModel()) || null;
}

// ---- the voice picker ----------------------------------------------------------------------------

function fillVoices(readyEngines, listings, wanted) {
  catalog.voices.clear();
  const groups = readyEngines.map((engine, index) => {
    const builtins = listings[index].voices.filter((voice) => voice.type === "builtin");
    return voiceGroup(`${engine.id} voices`, builtins, (voice) => `${engine.id}/${voice.voice_id}`);
  });
  const shared = listings[0]?.voices || []; // references and mappings are the same in every listing
  groups.push(voiceGroup("Reference voices", shared.filter((voice) => voice.type === "reference"), libraryKey));
  groups.push(voiceGroup("Voice mappings", shared.filter((voice) => voice.type === "mapping"), libraryKey));
  const select = $("voice");
  select.replaceChildren(...groups.filter((group) => group.children.length));
  if (catalog.voices.has(wanted)) select.value = wanted;
  else selectFirstVoiceOf(selectedModel());
}

function libraryKey(voice) {
  return `${voice.type}/${voice.voice_id}`;
}

function voiceGroup(label, voices, keyOf) {
  const group = element("optgroup", { label });
  for (const voice of voices) {
    const key = keyOf(voice);
    catalog.voices.set(key, voice);
    group.append(voiceOption(key, voice));
  }
  return group;
}

function voiceOption(key, voice) {
  const option = element("option", { value: key }, voiceLabel(voice));
  if (voice.broken) {
    option.disabled = true;
    option.textContent += " [broken]";
  }
  if (voice.description) option.title = voice.description;
  return option;
}

function voiceLabel(voice) {
  if (voice.type === "reference") return `★ ${voice.voice_id} (reference)`;
  if (voice.type === "mapping") return `${voice.voice_id} (mapping)`;
  const id = voice.voice_id;
  const sameName = !voice.name || voice.name.toLowerCase() === id.toLowerCase();
  const title = sameName ? voice.name || id : `${id} – ${voice.name}`;
  const details = [voice.language !== id ? voice.language : null, voice.gender].filter(Boolean).join(", ");
  return details ? `${title} (${details})` : title;
}

function selectedVoice() {
  return catalog.voices.get($("voice").value) || null;
}

/** The voice id to send (a built-in name, a reference voice or a mapping). */
export function selectedVoiceId() {
  return selectedVoice()?.voice_id || "default";
}

/** Selects a reference voice by id (after an upload), when it is listed. */
export function selectReference(voiceId) {
  const key = `reference/${voiceId}`;
  if (!catalog.voices.has(key)) return;
  $("voice").value = key;
  voiceChanged();
}

function selectFirstVoiceOf(engineId, preferredId = "default") {
  const keys = [...catalog.voices.keys()].filter((key) => key.startsWith(`${engineId}/`));
  const preferred = keys.find((key) => catalog.voices.get(key).voice_id === preferredId);
  if (keys.length) $("voice").value = preferred || keys[0];
}

// ---- keeping engine and voice consistent ---------------------------------------------------------

/** A built-in voice belongs to one engine: picking it picks that engine. */
export function voiceChanged() {
  const voice = selectedVoice();
  if (voice?.type === "builtin" && voice.engine !== selectedModel()) $("engine").value = voice.engine;
  showEngine();
  showVoice();
}

/** Another engine: keep the voice if that engine can speak it, else take the same name there or its first. */
export function engineChanged() {
  const voice = selectedVoice();
  if (voice?.type === "builtin" && voice.engine !== selectedModel()) selectFirstVoiceOf(selectedModel(), voice.voice_id);
  showEngine();
  showVoice();
}

function showEngine() {
  const engine = selectedEngine();
  const hint = $("engine-hint");
  if (!engine) {
    hint.textContent = "No engine is ready.";
    showSampling([]);
    return;
  }
  const { capabilities } = engine;
  const parts = [engine.name, capabilities.streaming ? "streams" : "no streaming", `cloning: ${capabilities.cloning}`];
  if (capabilities.speaker_tags) parts.push("[S1]/[S2] tags");
  hint.textContent = parts.join(" · ");
  showSampling(capabilities.sampling_params);
  $("sampling-engine").textContent = `(${engine.id})`;
}

function showVoice() {
  const voice = selectedVoice();
  const engine = selectedEngine();
  let text = voice?.description || "";
  if (voice && voice.type !== "builtin" && engine && (voice.type === "reference" || voice.cloning)) {
    text += `${text ? " · " : ""}${engine.id} ${CLONING_TEXT[engine.capabilities.cloning] || ""}`;
  }
  $("voice-hint").textContent = text;
}

// ---- sampling controls ---------------------------------------------------------------------------

function showSampling(honoured) {
  const wanted = new Set(honoured);
  let shown = 0;
  for (const field of $("sampling").querySelectorAll("[data-param]")) {
    field.hidden = !wanted.has(field.dataset.param);
    if (!field.hidden) shown += 1;
  }
  $("sampling").hidden = shown === 0;
}

/** The /generate sampling fields the user filled in, among those the selected engine honours. */
export function samplingFields() {
  const fields = {};
  for (const field of $("sampling").querySelectorAll("[data-param]")) {
    const input = field.querySelector("input");
    if (field.hidden || $("sampling").hidden || input.value === "") continue;
    fields[SAMPLING_FIELDS[field.dataset.param]] = Number(input.value);
  }
  return fields;
}
