// tts-server playground: plain browser JavaScript modules, no build step, nothing fetched but this server's
// API. This file wires the page together; each concern lives in its own module.

import { apiKey, on, setApiKey, showError } from "./api.js";
import { $ } from "./dom.js";
import { engineChanged, loadCatalog, refreshHealth, selectReference, voiceChanged, watchHealth } from "./engines.js";
import { setUpJobs } from "./jobs.js";
import { loadLibrary, setUpLibrary } from "./library.js";
import { watchRequests } from "./log.js";
import { setUpSpeaking } from "./speak.js";

// ---- the API key panel ---------------------------------------------------------------------------

function showKeyPanel() {
  const panel = $("key-panel");
  if (!panel.hidden) return;
  panel.hidden = false;
  $("api-key").focus();
}

async function saveKey(event) {
  event.preventDefault();
  setApiKey($("api-key").value.trim());
  $("api-key").value = "";
  showKeyState();
  await loadEverything();
}

function forgetKey() {
  setApiKey("");
  $("api-key").value = "";
  showKeyState();
}

function showKeyState() {
  const saved = Boolean(apiKey());
  $("api-key").placeholder = saved ? "key saved in this browser" : "API key";
  $("key-status").textContent = saved ? "A key is saved; requests send it." : "No key saved.";
}

// ---- loading -------------------------------------------------------------------------------------

/** Engines, voices and the library: at start, and again once a key is given. */
async function loadEverything() {
  try {
    await loadCatalog();
    $("speak-error").hidden = true;
  } catch (error) {
    showError($("speak-error"), error);
  }
  await loadLibrary();
}

async function libraryChanged(newVoiceId) {
  await loadCatalog().catch(() => {});
  if (newVoiceId) selectReference(newVoiceId);
}

// ---- small displays ------------------------------------------------------------------------------

function showSpeed() {
  $("speed-value").textContent = `${Number($("speed").value).toFixed(2)}×`;
}

function showTextLength() {
  const count = $("text").value.length;
  $("text-count").textContent = `${count} character${count === 1 ? "" : "s"}`;
}

function init() {
  watchRequests();
  on("unauthorized", showKeyPanel);
  if (apiKey()) $("key-panel").hidden = false;
  showKeyState();
  $("key-form").addEventListener("submit", saveKey);
  $("forget-key").addEventListener("click", forgetKey);
  $("engine").addEventListener("change", engineChanged);
  $("voice").addEventListener("change", voiceChanged);
  $("speed").addEventListener("input", showSpeed);
  $("text").addEventListener("input", showTextLength);
  $("health").addEventListener("click", () => refreshHealth());
  setUpSpeaking();
  setUpJobs();
  setUpLibrary(libraryChanged);
  showSpeed();
  showTextLength();
  watchHealth(() => loadCatalog().catch(() => {}));
  loadEverything().finally(() => document.body.setAttribute("data-ready", "yes"));
}

init();
