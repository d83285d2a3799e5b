// The request log: every request the page makes, with its time to the first byte and to the last.

import { on } from "./api.js";
import { $, element, formatMs } from "./dom.js";

const KEEP_ROWS = 30;
const rows = new Map(); // timing id -> its table row

export function watchRequests() {
  on("timing", showTiming);
}

function showTiming(timing) {
  let row = rows.get(timing.id);
  if (!row) {
    row = newRow(timing);
    rows.set(timing.id, row);
    $("request-log").prepend(row);
    dropOldRows();
  }
  const [, status, firstByte, total] = row.cells;
  status.textContent = timing.status;
  firstByte.textContent = formatMs(timing.firstByte);
  total.textContent = formatMs(timing.total);
  row.dataset.state = timing.total === null ? "running" : "done";
}

function newRow(timing) {
  const cells = [timing.label, "", "", ""].map((text) => element("td", {}, text));
  cells[0].className = "request";
  return element("tr", {}, ...cells);
}

function dropOldRows() {
  const body = $("request-log");
  while (body.rows.length > KEEP_ROWS) {
    const last = body.rows[body.rows.length - 1];
    for (const [id, row] of rows) if (row === last) rows.delete(id);
    last.remove();
  }
}
