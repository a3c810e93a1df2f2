// The baseline: a naive room broadcast server on Node.js's `ws` package, the usual choice for a
// chat room. It speaks just the operations liveroom-bench uses (hello, login, create_room,
// enter_room, send_text, ping) in Liveroom's wire format, so the same harness drives both.
// No auth, no budget, no history: every message is stringified once and sent to every member.
'use strict';
const { WebSocketServer } = require('ws');

const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 9100;
const rooms = new Map(); // room id -> Set of sockets
let seq = 0;
let nextRoom = 0;

const wss = new WebSocketServer({ host: '127.0.0.1', port, path: '/ws' }, () => {
  console.log(`node-ws-baseline listening on http://127.0.0.1:${wss.address().port}`);
});

wss.on('connection', (ws) => {
  ws.rooms = new Set();
  ws.user = '';
  const reply = (id, data) => ws.send(JSON.stringify({ t: 'reply', id, data }));
  ws.on('message', (raw) => {
    let req;
    try { req = JSON.parse(raw); } catch { return; }
    switch (req.op) {
      case 'hello': return reply(req.id, { server: 'node-ws-baseline', time: 0, upload_path: '' });
      case 'login': ws.user = req.user_id; return reply(req.id, { user_id: req.user_id });
      case 'ping': return reply(req.id, {});
      case 'create_room': {
        const id = req.room_id || `@TGS#node${nextRoom++}`;
        if (!rooms.has(id)) rooms.set(id, new Set());
        return reply(req.id, { groupID: id, name: req.name });
      }
      case 'enter_room': {
        const members = rooms.get(req.room_id);
        if (!members) return ws.send(JSON.stringify({ t: 'error', id: req.id, code: 10010, message: 'no room' }));
        members.add(ws);
        ws.rooms.add(req.room_id);
        return reply(req.id, { status: 'JoinedSuccess', messages: [] });
      }
      case 'send_text': {
        const members = rooms.get(req.room_id);
        if (!members) return;
        seq += 1;
        const message = {
          ID: `GROUP${req.room_id}-${seq}`, type: 'TIMTextElem', payload: { text: req.text },
          to: req.room_id, from: ws.user, time: Math.floor(Date.now() / 1000), sequence: seq,
          priority: req.priority || 'Normal',
        };
        const frame = JSON.stringify({ t: 'messages', room: req.room_id, list: [message] });
        for (const member of members) member.send(frame);
        return reply(req.id, { message });
      }
      default: return;
    }
  });
  ws.on('close', () => { for (const r of ws.rooms) rooms.get(r)?.delete(ws); });
});
