// The voice library: reference voices (list, play, upload, edit transcript, delete) and voice mappings
// (list, create, delete). Every change reloads the voice picker through `onChange`.

import { request, showError } from "./api.js";
import { $, element, hideMessage, showMessage } from "./dom.js";
import { AudioOutput } from "./player.js";

let libraryOutput = null;
let onChange = async () => {};

export function setUpLibrary(changed) {
  onChange = changed;
  libraryOutput = new AudioOutput($("library-player"));
  $("upload-form").addEventListener("submit", upload);
  $("mapping-form").addEventListener("submit", saveMapping);
}

/** Reloads both lists (references first: the mapping form offers them). */
export async function loadLibrary() {
  await loadReferences();
  await loadMappings();
}

// ---- reference voices ----------------------------------------------------------------------------

async function loadReferences() {
  try {
    const { audio_prompts: prompts } = await request("prompts").then((response) => response.json());
    $("reference-list").replaceChildren(...prompts.map(referenceItem));
    $("reference-empty").hidden = prompts.length > 0;
    fillPromptChoices(prompts);
    hideMessage($("library-error"));
  } catch (error) {
    showError($("library-error"), error);
  }
}

function referenceItem(prompt) {
  const id = prompt.prompt_id;
  const transcript = element("input", {
    type: "text",
    value: prompt.transcript,
    placeholder: "no transcript",
    "aria-label": `Transcript of ${id}`,
  });
  const play = button("Play", `Play ${id}`, () => playReference(id));
  const save = button("Save transcript", `Save the transcript of ${id}`, () => saveTranscript(id, transcript.value));
  const remove = confirmingButton("Delete", `Delete ${id}`, () => deleteReference(id));
  const details = `${Number(prompt.duration).toFixed(1)} s · transcript: ${prompt.transcript_source}`;
  return element(
    "li",
    { className: "item", "data-voice": id },
    element("div", { className: "item-head" }, element("strong", {}, id), element("span", { className: "hint" }, details)),
    element("div", { className: "row" }, transcript, save, play, remove),
  );
}

async function playReference(id) {
  try {
    const blob = await request("promptAudio", { params: { prompt_id: id } }).then((response) => response.blob());
    libraryOutput.reset();
    $("library-player").hidden = false;
    $("library-player").setAttribute("aria-label", `Reference voice ${id}`);
    await libraryOutput.playWhole(blob, "wav");
  } catch (error) {
    showError($("library-error"), error);
  }
}

async function saveTranscript(id, transcript) {
  await change($("library-error"), () =>
    request("setTranscript", { params: { prompt_id: id }, json: { transcript: transcript.trim() } }),
  );
}

async function deleteReference(id) {
  await change($("library-error"), () => request("deletePrompt", { params: { prompt_id: id } }));
}

async function upload(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const data = new FormData(form);
  if (!String(data.get("transcript") || "").trim()) data.delete("transcript");
  hideMessage($("upload-result"));
  $("upload").disabled = true;
  await change($("upload-error"), async () => {
    const answer = await request("upload", { body: data }).then((response) => response.json());
    showUploaded(answer);
    form.reset();
    return answer.prompt_id;
  });
  $("upload").disabled = false;
}

function showUploaded(answer) {
  const parts = [`${answer.message}: “${answer.prompt_id}”, ${Number(answer.duration).toFixed(1)} s.`];
  if (answer.transcript) parts.push(`Transcript: “${answer.transcript}”.`);
  if (answer.warning) parts.push(`Note: ${answer.warning}`);
  parts.push("It is now selected as the voice.");
  showMessage($("upload-result"), parts.join(" "));
}

function fillPromptChoices(prompts) {
  const select = $("mapping-prompt");
  const wanted = select.value;
  const none = element("option", { value: "" }, "none (seed-based)");
  select.replaceChildren(none, ...prompts.map((p) => element("option", { value: p.prompt_id }, p.prompt_id)));
  select.value = prompts.some((p) => p.prompt_id === wanted) ? wanted : "";
}

// ---- voice mappings ------------------------------------------------------------------------------

async function loadMappings() {
  try {
    const mappings = await request("mappings").then((response) => response.json());
    $("mapping-list").replaceChildren(...mappings.map(mappingItem));
    $("mapping-empty").hidden = mappings.length > 0;
    hideMessage($("mapping-error"));
  } catch (error) {
    showError($("mapping-error"), error);
  }
}

function mappingItem(mapping) {
  const id = mapping.voice_id;
  const basis = mapping.audio_prompt
    ? `reference ${mapping.audio_prompt}${mapping.broken ? " (missing: speech with it fails)" : ""}`
    : `seed ${mapping.voice_seed ?? "(any)"}`;
  const details = `${mapping.style} · speaker ${mapping.primary_speaker} · ${basis}`;
  const remove = confirmingButton("Delete", `Delete mapping ${id}`, () =>
    change($("mapping-error"), () => request("deleteMapping", { params: { voice_id: id } })),
  );
  return element(
    "li",
    { className: mapping.broken ? "item broken" : "item", "data-voice": id },
    element("div", { className: "item-head" }, element("strong", {}, id), element("span", { className: "hint" }, details)),
    element("div", { className: "row" }, remove),
  );
}

async function saveMapping(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const fields = new FormData(form);
  const body = { voice_id: String(fields.get("voice_id")).trim(), primary_speaker: fields.get("primary_speaker") };
  const style = String(fields.get("style") || "").trim();
  if (style) body.style = style;
  if (fields.get("audio_prompt")) body.audio_prompt = fields.get("audio_prompt");
  if (fields.get("voice_seed") !== "") body.voice_seed = Number(fields.get("voice_seed"));
  const saved = await change($("mapping-error"), () => request("saveMapping", { json: body }));
  if (saved !== undefined) form.reset();
}

// ---- shared --------------------------------------------------------------------------------------

/** Runs one change to the library, then reloads the lists and the voice picker. Resolves to the change's
 * result, or undefined when it failed (the error is shown in `errorTarget`). */
async function change(errorTarget, action) {
  hideMessage(errorTarget);
  let result;
  try {
    result = await action();
  } catch (error) {
    showError(errorTarget, error);
    return undefined;
  }
  await loadLibrary();
  await onChange(typeof result === "string" ? result : null);
  return result ?? null;
}

function button(text, label, onClick) {
  const node = element("button", { type: "button", className: "secondary" }, text);
  node.setAttribute("aria-label", label);
  node.addEventListener("click", onClick);
  return node;
}

/** A delete button that asks once more (a second click) before it acts; leaving it resets it. */
function confirmingButton(text, label, onConfirm) {
  const node = button(text, label, () => {
    if (node.dataset.armed) {
      node.disabled = true;
      onConfirm();
      return;
    }
    node.dataset.armed = "yes";
    node.textContent = `Really ${text.toLowerCase()}?`;
    node.classList.add("danger");
  });
  node.addEventListener("blur", () => {
    delete node.dataset.armed;
    node.textContent = text;
    node.classList.remove("danger");
  });
  return node;
}
