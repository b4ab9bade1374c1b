// Three chat nodes (separate processes) on one Redis, checked with Node's
// `ws` client. Run by tests/cluster/run.sh:
//
//     node check.js PORT_A PORT_B PORT_C PID_C
//
// 1. One WebSocket client per node in room `lobby`; each sends N messages:
//    every client gets each other client's N messages exactly once and in
//    order, and never its own.
// 2. Drain: a WebSocket client and an SSE (/events) client on node C, then
//    SIGTERM to C (PID_C, a process the script started): the WebSocket
//    client gets 1001, the SSE stream ends; A and B keep chatting.
// Exits 0 when every check passed.
'use strict';
const http = require('http');
const WebSocket = require('ws');

const [portA, portB, portC, pidC] = process.argv.slice(2).map(Number);
const N = 50;
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function open(port, user) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/chat/lobby?user=${user}`);
    ws.got = [];
    ws.on('message', (data) => ws.got.push(JSON.parse(data.toString())));
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

// Waits (at most `ms`) until `done()` holds.
async function until(done, ms) {
  const start = Date.now();
  while (!done() && Date.now() - start < ms) await sleep(20);
  return done();
}

async function chatAcrossNodes() {
  const users = ['ua', 'ub', 'uc'];
  const clients = [];
  for (const [i, port] of [portA, portB, portC].entries()) clients.push(await open(port, users[i]));
  await sleep(300); // every join announced before the messages
  for (let n = 0; n < N; n++) for (const c of clients) c.send(JSON.stringify({ content: String(n) }));
  const messages = (c) => c.got.filter((m) => m.type === 'message');
  await until(() => clients.every((c) => messages(c).length >= 2 * N), 10000);
  await sleep(200); // a duplicate would arrive now
  for (const [i, c] of clients.entries()) {
    const bySender = {};
    for (const m of messages(c)) (bySender[m.user] ??= []).push(Number(m.content));
    const others = users.filter((u) => u !== users[i]);
    const exact = others.every((u) => (bySender[u] || []).join() === [...Array(N).keys()].join());
    check(exact && !bySender[users[i]] && Object.keys(bySender).length === 2,
      `client ${users[i]}: ${N} messages of each other node's client, once, in order, none of its own`);
  }
  return clients;
}

async function drain(clients) {
  const ws = await open(portC, 'leaving');
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  const sseEnded = new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: portC, path: '/events' }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(true));
      res.on('error', () => resolve(false));
    }).on('error', reject);
  });
  await sleep(300);
  process.kill(pidC, 'SIGTERM');
  const timeout = (ms) => sleep(ms).then(() => 'timeout');
  const code = await Promise.race([closed, timeout(10000)]);
  check(code === 1001, `WebSocket client of the drained node: close ${code} (want 1001)`);
  const ended = await Promise.race([sseEnded, timeout(10000)]);
  check(ended === true, `SSE stream of the drained node ended (${ended})`);
  // The other nodes chat on.
  const [a, b] = clients;
  const before = b.got.length;
  a.send(JSON.stringify({ content: 'still here' }));
  const arrived = await until(() => b.got.slice(before).some((m) => m.content === 'still here'), 5000);
  check(arrived, 'after the drain, a message from node A reaches node B');
}

(async () => {
  const clients = await chatAcrossNodes();
  await drain(clients);
  for (const c of clients) c.terminate();
  console.log(failures.length ? `${failures.length} check(s) FAILED` : 'all checks passed');
  process.exit(failures.length ? 1 : 0);
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
