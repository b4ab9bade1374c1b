// Three chat nodes (separate processes) on one Redis, checked with Node's
// `ws` client. Run by tests/cluster/run.sh:
//
//     node check.js PORT_A PORT_B PORT_C PID_C PID_B
//
// 1. One WebSocket client per node in room `lobby`; each sends N messages:
//    every client gets each other client's N messages exactly once and in
//    order, and never its own.
// 2. Drain: a WebSocket client and an SSE (/events) listener on node C,
//    then SIGTERM to C (PID_C, a process the script started) while A and B
//    chat: the WebSocket client gets 1001, the SSE stream ends, the
//    listener reconnects to node A with Last-Event-ID (as an EventSource
//    behind a load balancer would) and, over both nodes, has received every
//    chat message of the run exactly once (`message` events); node A's
//    `GET /members/lobby` loses C's members at once (C flushed its leaves
//    to Redis while draining), well within the presence TTL.
// 3. Kill a node: two WebSocket clients on node B in room `doomed`, seen by
//    node A's `GET /members/doomed` (presence across nodes); SIGKILL to B
//    (PID_B, started by the script): A's view drops them within the
//    presence TTL (the chat's default, TTL_MS), and the time it took is
//    printed.
// Exits 0 when every check passed.
'use strict';
const http = require('http');
const WebSocket = require('ws');

const [portA, portB, portC, pidC, pidB] = process.argv.slice(2).map(Number);
const N = 50;
// The chat's presence TTL (RedisConfig::default().presence_ttl).
const TTL_MS = 10000;
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function open(port, user, room = 'lobby') {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/chat/${room}?user=${user}`);
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

// GET `path` on `port`, parsed as JSON (null on any failure, within 2 s).
function getJson(port, path) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? JSON.parse(body) : null);
        } catch {
          resolve(null);
        }
      });
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

// Waits (at most `ms`) until the async `done()` holds.
async function untilAsync(done, ms) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await done()) return true;
    await sleep(50);
  }
  return done();
}

// An SSE client of /events that keeps the `message` events and the last id.
class Listener {
  constructor() {
    this.messages = [];
    this.lastId = null;
  }

  // Connects to `port` (with Last-Event-ID when it has one); `ended`
  // resolves when the server ends the stream.
  connect(port) {
    const headers = this.lastId ? { 'Last-Event-ID': this.lastId } : {};
    this.ended = new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/events', headers }, (res) => {
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          buffer += chunk;
          let at;
          while ((at = buffer.indexOf('\n\n')) >= 0) {
            this.event(buffer.slice(0, at));
            buffer = buffer.slice(at + 2);
          }
        });
        res.on('end', () => resolve(true));
        res.on('error', () => resolve(false));
      }).on('error', reject);
    });
  }

  event(block) {
    let id = null, type = 'message', data = '';
    for (const line of block.split('\n')) {
      const [field, ...rest] = line.split(':');
      const value = rest.join(':').replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') type = value;
      else if (field === 'data') data = value;
    }
    if (id !== null) this.lastId = id;
    if (type === 'reset') this.messages.push({ reset: true });
    if (type === 'message') this.messages.push(JSON.parse(data));
  }
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
  // /stats of every node: the engine connected, the cluster-wide counts
  // (three nodes, the three clients: refreshed every third of the
  // presence TTL), what it published.
  for (const [i, port] of [portA, portB, portC].entries()) {
    let engine = null;
    const counted = await untilAsync(async () => {
      engine = ((await getJson(port, '/stats')) || {}).engine;
      return engine && engine.cluster && engine.cluster.nodes === 3 && engine.cluster.websocket === 3;
    }, TTL_MS);
    check(counted && engine.status.state === 'connected' && engine.node === 'abc'[i] &&
      engine.published >= N && engine.dropped === 0,
      `node ${'abc'[i]}'s /stats: engine ${JSON.stringify(engine)}`);
  }
  return clients;
}

async function drain(clients, listener, sent) {
  const ws = await open(portC, 'leaving');
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  await sleep(300);
  // A and B chat through the drain: 20 messages each, one every 25 ms.
  const [a, b] = clients;
  const chatting = (async () => {
    for (let n = 0; n < 20; n++) {
      for (const [c, user] of [[a, 'ua'], [b, 'ub']]) {
        c.send(JSON.stringify({ content: `drain ${n}` }));
        sent.push(`${user}:drain ${n}`);
      }
      await sleep(25);
    }
  })();
  await sleep(100);
  process.kill(pidC, 'SIGTERM');
  const timeout = (ms) => sleep(ms).then(() => 'timeout');
  const code = await Promise.race([closed, timeout(10000)]);
  check(code === 1001, `WebSocket client of the drained node: close ${code} (want 1001)`);
  const ended = await Promise.race([listener.ended, timeout(10000)]);
  check(ended === true, `SSE stream of the drained node ended (${ended})`);
  // The drain flushed C's leaves: A's view of the room loses C's members
  // at once, not after the presence TTL.
  const drainedAt = Date.now();
  const fromC = async () => {
    const body = await getJson(portA, '/members/lobby');
    return body && Array.isArray(body.members)
      ? body.members.filter((id) => id.startsWith('c.')).length
      : -1;
  };
  const cGone = await untilAsync(async () => (await fromC()) === 0, 2000);
  check(cGone, `the drained node's members left node A's view of lobby in ${Date.now() - drainedAt} ms ` +
    `after its streams ended (presence TTL ${TTL_MS} ms)`);
  // The listener reconnects elsewhere and resumes from its last id.
  listener.connect(portA);
  await chatting;
  const before = b.got.length;
  a.send(JSON.stringify({ content: 'still here' }));
  sent.push('ua:still here');
  const arrived = await until(() => b.got.slice(before).some((m) => m.content === 'still here'), 5000);
  check(arrived, 'after the drain, a message from node A reaches node B');
}

async function killNode() {
  const room = 'doomed';
  const victims = [await open(portB, 'd1', room), await open(portB, 'd2', room)];
  for (const v of victims) v.on('error', () => {});
  const members = async () => {
    const body = await getJson(portA, `/members/${room}`);
    return body && Array.isArray(body.members) ? body.members : null;
  };
  const fromB = (ids) => (ids || []).filter((id) => id.startsWith('b.')).length;
  const seen = await untilAsync(async () => fromB(await members()) === 2, 5000);
  check(seen, `node A's /members/${room} lists node B's 2 clients (${JSON.stringify(await members())})`);
  const start = Date.now();
  process.kill(pidB, 'SIGKILL');
  const gone = await untilAsync(async () => {
    const ids = await members();
    return ids !== null && ids.length === 0;
  }, TTL_MS + 3000);
  const elapsed = Date.now() - start;
  check(gone && elapsed <= TTL_MS + 1000,
    `node B SIGKILLed: its members left node A's view of the room in ${elapsed} ms ` +
    `(presence TTL ${TTL_MS} ms)`);
  console.log(`figure: members of a killed node gone after ${elapsed} ms (TTL ${TTL_MS} ms)`);
}

(async () => {
  const listener = new Listener();
  listener.connect(portC);
  await sleep(200);
  const clients = await chatAcrossNodes();
  const sent = [];
  for (const user of ['ua', 'ub', 'uc']) for (let n = 0; n < N; n++) sent.push(`${user}:${n}`);
  await drain(clients, listener, sent);
  const key = (m) => `${m.user}:${m.content}`;
  const got = () => listener.messages.filter((m) => !m.reset).map(key);
  await until(() => got().length >= sent.length, 10000);
  await sleep(200); // a duplicate would arrive now
  const counts = {};
  for (const k of got()) counts[k] = (counts[k] || 0) + 1;
  const missing = sent.filter((k) => !counts[k]);
  const twice = Object.keys(counts).filter((k) => counts[k] > 1);
  const resets = listener.messages.filter((m) => m.reset).length;
  check(missing.length === 0 && twice.length === 0 && resets === 0,
    `SSE listener, node C then node A by Last-Event-ID: all ${sent.length} chat messages once ` +
    `(missing ${missing.length}${missing.length ? ' e.g. ' + missing.slice(0, 3) : ''}, ` +
    `twice ${twice.length}, resets ${resets})`);
  await killNode();
  for (const c of clients) c.terminate();
  console.log(failures.length ? `${failures.length} check(s) FAILED` : 'all checks passed');
  process.exit(failures.length ? 1 : 0);
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
