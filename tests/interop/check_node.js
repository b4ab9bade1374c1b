#!/usr/bin/env node
// Checks a WebSocket echo server with the Node `ws` (8.x) client.
//
//     NODE_PATH=.interop/node_modules node check_node.js ws://127.0.0.1:9001/some/path
//     NODE_PATH=.interop/node_modules node check_node.js wss://127.0.0.1:9443/some/path --ca CA.pem
//
// The same checks as check_python.py: text echo (ASCII, unicode, empty), binary
// echo (small, empty, 7/16/64-bit length boundaries, 1 MiB), a fragmented text
// and a fragmented binary message, ping/pong with a payload, and a clean close
// with code 1000 and a reason. Prints one PASS/FAIL line a check and
// "N passed, N failed"; exits 0 only when every check passed. For `wss://`,
// the server's certificate is verified against CA.pem only (and its name
// against the URL's host): no check is ever disabled.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const WebSocket = require('ws');

const STEP_TIMEOUT_MS = 10000;
let passed = 0;
let failed = 0;

function report(name, ok, detail) {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} node-ws ${name}${detail ? ': ' + detail : ''}`);
}

function describe(data, isBinary) {
  if (isBinary) return data.length > 32 ? `${data.length} bytes` : `bytes <${data.toString('hex')}>`;
  const s = data.toString();
  return s.length > 32 ? `text of ${s.length} chars` : `text ${JSON.stringify(s)}`;
}

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`)), STEP_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Received messages, in order, and whoever waits for the next one.
const inbox = [];
const waiters = [];
let closed = null; // {code, reason} once the connection closed

function nextMessage() {
  if (inbox.length) return Promise.resolve(inbox.shift());
  if (closed) return Promise.reject(new Error(`connection closed (${closed.code})`));
  return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
}

// parts: the frames to send (several = one fragmented message).
async function echoCheck(ws, name, parts, isBinary) {
  const expected = Buffer.concat(parts.map((p) => Buffer.from(p)));
  try {
    parts.forEach((p, i) => ws.send(p, { binary: isBinary, fin: i === parts.length - 1 }));
    const got = await withTimeout(nextMessage(), `the echo of ${name}`);
    if (got.isBinary !== isBinary) {
      report(name, false, `sent ${describe(expected, isBinary)}, got ${describe(got.data, got.isBinary)} (wrong type)`);
    } else if (!got.data.equals(expected)) {
      report(name, false, `sent ${describe(expected, isBinary)}, got ${describe(got.data, got.isBinary)}`);
    } else {
      report(name, true, describe(expected, isBinary));
    }
  } catch (e) {
    report(name, false, e.message);
  }
}

async function run(url, ca) {
  const tls = ca ? { ca: fs.readFileSync(ca), ALPNProtocols: ['http/1.1'] } : {};
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 << 20, handshakeTimeout: STEP_TIMEOUT_MS, ...tls });
  const closedPromise = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      closed = { code, reason: reason.toString() };
      waiters.splice(0).forEach((w) => w.reject(new Error(`connection closed (${code})`)));
      resolve(closed);
    });
  });
  ws.on('message', (data, isBinary) => {
    const msg = { data: Buffer.isBuffer(data) ? data : Buffer.concat(data), isBinary };
    const w = waiters.shift();
    if (w) w.resolve(msg); else inbox.push(msg);
  });
  let lastError = null;
  ws.on('error', (e) => { lastError = e; });
  try {
    await withTimeout(new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    }), 'the handshake');
    const socket = ws._socket;
    const detail = ca ? ` (${socket.getProtocol()}, ${socket.getCipher().name}, ALPN ${socket.alpnProtocol})` : '';
    report('handshake', true, url + detail);
  } catch (e) {
    report('handshake', false, e.message);
    return;
  }

  await echoCheck(ws, 'text ascii', ['Hello, tidings!'], false);
  await echoCheck(ws, 'text unicode', ['héllo wörld, 你好, ✓ 🦀'], false);
  await echoCheck(ws, 'text empty', [''], false);
  await echoCheck(ws, 'binary small', [Buffer.from([...Array(256).keys()])], true);
  await echoCheck(ws, 'binary empty', [Buffer.alloc(0)], true);
  for (const size of [125, 126, 65535, 65536]) {
    await echoCheck(ws, `binary ${size} bytes`, [crypto.randomBytes(size)], true);
  }
  await echoCheck(ws, 'binary 1 MiB', [crypto.randomBytes(1 << 20)], true);
  await echoCheck(ws, 'text 1 MiB', ['a€'.repeat(1 << 18)], false);
  // fin: false on all but the last part makes ws send continuation frames.
  await echoCheck(ws, 'text fragmented (3 frames)', ['frag', 'mented', ' ✓'], false);
  await echoCheck(ws, 'binary fragmented (3 frames)', [Buffer.from([0]), Buffer.from([1, 2]), Buffer.from([3])], true);

  try {
    const payload = Buffer.from('ping-payload');
    const pong = await withTimeout(new Promise((resolve) => {
      ws.once('pong', resolve);
      ws.ping(payload);
    }), 'the pong');
    if (pong.equals(payload)) report('ping/pong', true, 'pong carries our payload');
    else report('ping/pong', false, `pong payload <${pong.toString('hex')}>, expected <${payload.toString('hex')}>`);
  } catch (e) {
    report('ping/pong', false, e.message);
  }
  await echoCheck(ws, 'text after ping', ['still here'], false);

  try {
    ws.close(1000, 'tidings interop done');
    const c = await withTimeout(closedPromise, 'the closing handshake');
    // ws reports 1006 when the TCP connection ended without a Close frame.
    if (c.code === 1000) report('close', true, `sent 1000 'tidings interop done', server answered 1000 ${JSON.stringify(c.reason)}`);
    else report('close', false, `close code ${c.code} (reason ${JSON.stringify(c.reason)}), expected 1000${lastError ? '; error: ' + lastError.message : ''}`);
  } catch (e) {
    report('close', false, e.message);
    ws.terminate();
  }
}

async function main() {
  const url = process.argv[2];
  const withCa = process.argv.length === 5 && process.argv[3] === '--ca';
  if (!url || (process.argv.length !== 3 && !withCa)) {
    console.error('usage: node check_node.js ws://HOST:PORT/PATH | wss://HOST:PORT/PATH --ca CA.pem');
    return 2;
  }
  const ca = withCa ? process.argv[4] : null;
  const version = require('ws/package.json').version;
  console.log(`node ws ${version} against ${url}`);
  try {
    await run(url, ca);
  } catch (e) {
    report('connection', false, e.message);
  }
  console.log(`node-ws: ${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

main().then((code) => process.exit(code));
