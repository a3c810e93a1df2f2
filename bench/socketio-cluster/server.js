// The peer for issue 13: what a Node.js developer would pick to serve one room from several
// processes. Socket.IO 4 with the Redis Streams adapter (@socket.io/redis-streams-adapter,
// over the `redis` client); run one process per node, all given the same Redis. It does what
// liveroom-bench's cluster scenario needs: `join` a room (acknowledged), `send` a text to a
// room (broadcast to every member on every node, then acknowledged to the sender), with
// Liveroom's message shape so the same viewers count what they receive.
// WebSocket only (no long-polling), no per-message compression: the same wire work as ours.
//
// Usage: node server.js --host 127.0.0.1 --port 0 --redis redis://127.0.0.1:6379
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const { createClient } = require('redis');
const { createAdapter } = require('@socket.io/redis-streams-adapter');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  const host = arg('host', '127.0.0.1');
  const port = Number(arg('port', '3000'));
  const redis = createClient({ url: arg('redis', 'redis://127.0.0.1:6379') });
  redis.on('error', (e) => console.error(`redis: ${e.message}`));
  await redis.connect();

  const server = http.createServer();
  const io = new Server(server, {
    adapter: createAdapter(redis),
    transports: ['websocket'],
    serveClient: false,
    perMessageDeflate: false,
  });
  let seq = 0;

  io.on('connection', (socket) => {
    socket.on('join', (room, ack) => {
      socket.join(String(room));
      if (typeof ack === 'function') ack({ ok: true });
    });
    socket.on('send', (req, ack) => {
      const room = String(req && req.room);
      seq += 1;
      const message = {
        ID: `GROUP${room}-${seq}`, type: 'TIMTextElem', payload: { text: String(req.text) },
        to: room, from: socket.id, time: Math.floor(Date.now() / 1000), sequence: seq,
        priority: 'Normal',
      };
      io.to(room).emit('messages', { t: 'messages', room, list: [message] });
      if (typeof ack === 'function') ack({ message });
    });
  });

  server.listen(port, host, () => {
    console.log(`socketio-cluster listening on http://${host}:${server.address().port}`);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
