// What the pages of the real-browser tests share (the browser_check
// example's page.html, tidings-tests' wt_check page): the log, reporting
// over the /report WebSocket (runtime-tokio/examples/common/page_report.rs
// reads it), and step timeouts. Each server puts this file in place of the
// `/*page_report.js*/` comment in its page's inline script, so the pages
// load no other resource. Needs an element with id "log".

const logEl = document.getElementById("log");
function log(line) {
  logEl.textContent += line + "\n";
  console.log(line);
}

// ---- reporting --------------------------------------------------------------

let reportSocket = null;
const pendingReports = [];

function send(obj) {
  const text = JSON.stringify(obj);
  if (reportSocket && reportSocket.readyState === WebSocket.OPEN) {
    reportSocket.send(text);
  } else {
    pendingReports.push(text);
  }
}

function report(name, ok, detail) {
  log((ok ? "PASS " : "FAIL ") + name + (detail ? ": " + detail : ""));
  send({ name, ok: !!ok, detail: String(detail || "") });
}

function info(name, detail) {
  log("INFO " + name + ": " + detail);
  send({ name, ok: true, info: true, detail: String(detail) });
}

function openReport() {
  return new Promise((resolve, reject) => {
    // wss:// on a page served over https.
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/report");
    ws.onopen = () => {
      reportSocket = ws;
      for (const text of pendingReports.splice(0)) ws.send(text);
      resolve();
    };
    ws.onerror = () => reject(new Error("report socket failed"));
  });
}

window.addEventListener("error", (e) => report("page.error", false, e.message));
window.addEventListener("unhandledrejection", (e) => report("page.unhandled-rejection", false, String(e.reason)));

// ---- helpers -----------------------------------------------------------------

// How long one step of a check may take.
const STEP_TIMEOUT_MS = 10000;

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("timeout: " + what)), STEP_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}
