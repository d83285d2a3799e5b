// Jobs: a long text runs on the server over the WebSocket (/ws/generate) with live progress; the result
// stays at its audio_url to play and download.

import { SOCKET_PATH, apiKey, request, showError, startTiming } from "./api.js";
import { $, element, formatMs, formatSeconds, showMessage } from "./dom.js";
import { AudioOutput, offerDownload } from "./player.js";
import { generationRequest } from "./speak.js";

let jobCount = 0;

export function setUpJobs() {
  $("run-job").addEventListener("click", runJob);
}

function runJob() {
  if (!$("speak-form").reportValidity()) return;
  $("job-error").hidden = true;
  const body = generationRequest();
  const view = new JobView(body.text, body.response_format);
  new JobConnection(body, view).open();
}

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const key = apiKey();
  // browsers cannot set headers on a WebSocket handshake: the server takes the key as a query parameter
  return `${scheme}://${location.host}${SOCKET_PATH}${key ? `?api_key=${encodeURIComponent(key)}` : ""}`;
}

/** One job's conversation with the server: sends the request, relays each message to its view. */
class JobConnection {
  constructor(body, view) {
    this.body = body;
    this.view = view;
    this.timing = startTiming(`WS ${SOCKET_PATH}`);
    this.finished = false;
  }

  open() {
    this.socket = new WebSocket(socketUrl());
    this.socket.addEventListener("open", () => this.send({ type: "generate", data: this.body }));
    this.socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    this.socket.addEventListener("close", () => this.closed());
    this.view.onCancel(() => this.send({ type: "cancel", job_id: this.view.jobId }));
  }

  send(message) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  receive(message) {
    this.timing.sawBytes();
    this.view.showTiming(this.timing);
    if (message.job_id) this.view.jobId = message.job_id;
    if (message.type === "progress") this.view.progress(message.progress, message.stage);
    else if (message.type === "complete") this.end("completed", () => this.view.complete(message));
    else if (message.type === "cancelled") this.end("cancelled", () => this.view.stopped("cancelled"));
    else if (message.type === "error") this.end("failed", () => this.view.failed(message));
  }

  end(status, show) {
    this.finished = true;
    this.timing.finish(status);
    this.view.showTiming(this.timing);
    show();
    this.socket.close();
  }

  closed() {
    if (this.finished) return;
    this.timing.finish("closed");
    this.view.failed({
      message: "The connection closed before the job ended. If the server needs an API key, enter it above.",
    });
  }
}

/** A job's entry in the list: its progress bar, stage, timing, and then its result. */
class JobView {
  constructor(text, format) {
    jobCount += 1;
    this.format = format;
    this.jobId = null;
    this.title = `Job ${jobCount}`;
    this.build(text);
    $("job-list").prepend(this.root);
  }

  build(text) {
    const preview = text.length > 80 ? `${text.slice(0, 77)}…` : text;
    this.stage = element("span", { className: "job-stage", role: "status" }, "connecting");
    this.bar = element("progress", { max: 100, value: 0, "aria-label": `${this.title} progress` });
    this.percent = element("span", { className: "job-percent" }, "0%");
    this.firstByte = element("dd", {}, "–");
    this.total = element("dd", {}, "–");
    this.audioLength = element("dd", {}, "–");
    this.cancel = element("button", { type: "button", className: "secondary", disabled: true }, "Cancel");
    this.cancel.setAttribute("aria-label", `Cancel ${this.title}`);
    this.result = element("div", { className: "job-result", hidden: true });
    const head = element("div", { className: "job-head" }, element("strong", {}, this.title), this.stage);
    this.root = element(
      "li",
      { className: "job", "aria-label": this.title },
      head,
      element("p", { className: "hint job-text" }, preview),
      element("div", { className: "row" }, this.bar, this.percent, this.cancel),
      element("dl", { className: "stats" }, stat("First message", this.firstByte), stat("Total", this.total),
        stat("Audio", this.audioLength)),
      this.result,
    );
  }

  onCancel(listener) {
    this.cancel.addEventListener("click", listener);
  }

  progress(percent, stage) {
    this.bar.value = percent;
    this.percent.textContent = `${percent}%`;
    this.stage.textContent = stage;
    this.cancel.disabled = this.jobId === null;
  }

  showTiming(timing) {
    this.firstByte.textContent = formatMs(timing.firstByte);
    this.total.textContent = formatMs(timing.total);
  }

  async complete(message) {
    this.progress(100, "completed");
    this.cancel.disabled = true;
    this.root.dataset.state = "completed";
    if (message.duration) this.audioLength.textContent = formatSeconds(message.duration);
    try {
      const blob = await request("jobResult", { params: { job_id: message.job_id } }).then((r) => r.blob());
      this.showResult(blob);
    } catch (error) {
      showError($("job-error"), error);
    }
  }

  showResult(blob) {
    const player = element("audio", { controls: true, "aria-label": `${this.title} result` });
    const link = element("a", { className: "button secondary" }, `Download ${this.format}`);
    const output = new AudioOutput(player);
    this.result.append(player, link);
    this.result.hidden = false;
    offerDownload(link, output, blob, `job-${this.jobId}.${this.format}`);
    if (output.canPlay(this.format)) output.playWhole(blob, this.format);
  }

  stopped(stage) {
    this.stage.textContent = stage;
    this.cancel.disabled = true;
    this.root.dataset.state = stage;
  }

  failed(message) {
    this.stopped("failed");
    const code = message.error_code ? ` (${message.error_code})` : "";
    showMessage($("job-error"), `${this.title} failed${code}: ${message.message}`);
  }
}

function stat(label, value) {
  return element("div", {}, element("dt", {}, label), value);
}
