// The TLS client of the TypeScript client (rstmdb-js, src/connection.ts), rebuilt on Node's own
// `tls` module for test_tls_clients.py: the socket is `tls.connect({host, port, ...tls})` with
// the client's TlsConfig spread in (`true` becomes {rejectUnauthorized: true}), requests start
// on 'secureConnect', frames are RCPX with CRC32C, and the connection ends with socket.end()
// (TLS close_notify). Then HELLO (binary_json), AUTH, PUT_MACHINE, CREATE_INSTANCE,
// WATCH_INSTANCE, APPLY_EVENT and the watch event.
//
// Usage: node tls_node_client.mjs '<json>'  with
//   {"host", "port", "token", "instance_id", "tls": true | {"ca"?, "cert"?, "key"?: path,
//    "rejectUnauthorized"?, "servername"?}}
// Prints one JSON line: {"ok": true, "protocol", "cipher", "authorized", "hello", "event", ...}
// or {"ok": false, "stage", "code", "message", "ms"}; exits 0 either way (2 on bad usage).
// Every wait is bounded (REQUEST_TIMEOUT_MS), so the script always ends.
import * as fs from 'node:fs';
import * as tls from 'node:tls';

const REQUEST_TIMEOUT_MS = 5000;
const HEADER_SIZE = 18;
const FLAG_CRC_PRESENT = 1;

const CRC_TABLE = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  CRC_TABLE[i] = c >>> 0;
}
function crc32c(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = (c >>> 8) ^ CRC_TABLE[(c ^ b) & 0xff];
  return (c ^ 0xffffffff) >>> 0;
}

function encodeFrame(message) {
  const payload = Buffer.from(JSON.stringify(message), 'utf8');
  const frame = Buffer.alloc(HEADER_SIZE + payload.length);
  frame.write('RCPX', 0, 'latin1');
  frame.writeUInt16BE(1, 4);
  frame.writeUInt16BE(FLAG_CRC_PRESENT, 6);
  frame.writeUInt16BE(0, 8);
  frame.writeUInt32BE(payload.length, 10);
  frame.writeUInt32BE(crc32c(payload), 14);
  payload.copy(frame, HEADER_SIZE);
  return frame;
}

function resolveTls(option) {
  // rstmdb-js resolveConfig(): `tls: true` = system trust store with verification.
  if (option === true) return { rejectUnauthorized: true };
  const out = { ...option };
  for (const file of ['ca', 'cert', 'key']) if (out[file]) out[file] = fs.readFileSync(out[file]);
  return out;
}

function fail(stage, err, started) {
  console.log(JSON.stringify({ ok: false, stage, code: err.code ?? null, message: err.message,
                               ms: Date.now() - started }));
}

async function main() {
  if (process.argv.length !== 3) {
    console.error('usage: node tls_node_client.mjs JSON');
    process.exit(2);
  }
  const args = JSON.parse(process.argv[2]);
  const started = Date.now();
  const socket = tls.connect({ host: args.host, port: args.port, ...resolveTls(args.tls) });
  let buffer = Buffer.alloc(0);
  const messages = [];
  let waiter = null;
  let socketError = null;
  const wake = () => { if (waiter) { const w = waiter; waiter = null; w(); } };
  socket.on('data', (data) => {
    buffer = Buffer.concat([buffer, data]);
    while (buffer.length >= HEADER_SIZE) {
      if (buffer.toString('latin1', 0, 4) !== 'RCPX') {
        socketError = new Error('bad magic from server');
        socket.destroy();
        break;
      }
      const len = buffer.readUInt32BE(10);
      const ext = buffer.readUInt16BE(8);
      if (buffer.length < HEADER_SIZE + ext + len) break;
      const payload = buffer.subarray(HEADER_SIZE + ext, HEADER_SIZE + ext + len);
      if (buffer.readUInt16BE(6) & FLAG_CRC_PRESENT && crc32c(payload) !== buffer.readUInt32BE(14)) {
        socketError = new Error('CRC mismatch from server');
        socket.destroy();
        break;
      }
      messages.push(JSON.parse(payload.toString('utf8')));
      buffer = buffer.subarray(HEADER_SIZE + ext + len);
    }
    wake();
  });
  socket.on('error', (err) => { socketError = err; wake(); });
  socket.on('close', () => { socketError = socketError ?? new Error('closed by the server'); wake(); });

  const until = async (predicate, what) => {
    const deadline = Date.now() + REQUEST_TIMEOUT_MS;
    for (;;) {
      const found = messages.findIndex(predicate);
      if (found >= 0) return messages.splice(found, 1)[0];
      if (socketError) throw socketError;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for ' + what);
      await new Promise((resolve) => { waiter = resolve; setTimeout(resolve, left); });
    }
  };

  let stage = 'handshake';
  try {
    await new Promise((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
      setTimeout(() => reject(new Error('handshake timed out')), REQUEST_TIMEOUT_MS);
    });
    let nextId = 1;
    const request = async (op, params) => {
      stage = op;
      const id = String(nextId++);
      socket.write(encodeFrame({ type: 'request', id, op, params }));
      const reply = await until((m) => m.type === 'response' && m.id === id, op);
      if (reply.status !== 'ok') throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
      return reply.result;
    };
    const hello = await request('HELLO', { protocol_version: 1, wire_modes: ['binary_json'],
                                           features: ['idempotency', 'batch'], client_name: 'tls-node-check' });
    await request('AUTH', { method: 'bearer', token: args.token });
    await request('PUT_MACHINE', { machine: 'tls-clients', version: 1, definition: {
      states: ['a', 'b'], initial: 'a', transitions: [{ from: 'a', event: 'GO', to: 'b' }] } });
    const created = await request('CREATE_INSTANCE', { machine: 'tls-clients', version: 1,
                                                       instance_id: args.instance_id });
    const watch = await request('WATCH_INSTANCE', { instance_id: args.instance_id });
    const applied = await request('APPLY_EVENT', { instance_id: args.instance_id, event: 'GO' });
    stage = 'event';
    const event = await until((m) => m.type === 'event' && m.subscription_id === watch.subscription_id, 'the event');
    const result = { ok: true, protocol: socket.getProtocol(), cipher: socket.getCipher().name,
                     authorized: socket.authorized, servername: socket.servername ?? null,
                     hello, created_state: created.state, to_state: applied.to_state,
                     event: { from_state: event.from_state, to_state: event.to_state, event: event.event } };
    stage = 'close';
    let closeError = null;
    socket.on('error', (err) => { closeError = err; });
    const closed = new Promise((resolve) => socket.once('close', () => resolve(true)));
    socket.end();  // close_notify, as rstmdb-js close()
    const timedOut = new Promise((resolve) => setTimeout(() => resolve(false), REQUEST_TIMEOUT_MS));
    result.closed_by_server = await Promise.race([closed, timedOut]);
    result.close_error = closeError ? (closeError.code ?? closeError.message) : null;
    console.log(JSON.stringify(result));
  } catch (err) {
    fail(stage, err, started);
  }
  socket.destroy();
  process.exit(0);  // pending deadline timers must not hold the process
}

main();
