#!/usr/bin/env python3
"""A live-room app's own backend, written against Tencent IM's server conventions only.

It knows nothing of Liveroom: it mints its administrator UserSig the way Tencent's
TLSSigAPIv2 does, calls the REST API in Tencent's raw URL form
(POST /v4/SERVICE/COMMAND?sdkappid=&identifier=&usersig=&random=&contenttype=json) and reads
Tencent's envelopes, and it runs a webhook receiver for Tencent's callbacks that refuses any
message containing a banned word. Standard library only, so that it proves the wire format
and not a client library.

The end-to-end test (tests/e2e/rest_backend.rs) drives it through stdin and stdout, one JSON
object per line each way:

    python3 tests/backend/tencent_backend.py --app 1400000000 --key SECRET --admin boss \
        --refuse-word spam [--token HOOK_TOKEN]
    -> {"listening": 40123}              the webhook receiver's port on 127.0.0.1
    <- {"op": "server", "url": "http://127.0.0.1:9000"}
    <- {"op": "open_show", "room": "live-1", "name": "Evening show",
        "host": {"id": "host", "nick": "Ann"}, "viewers": [{"id": "v1", "nick": "Vera"}]}
    <- {"op": "gift", "room": "live-1", "from": "host", "gift": "rocket", "count": 3}
    <- {"op": "mute", "room": "live-1", "user": "v1", "seconds": 60}
    <- {"op": "ban", "room": "live-1", "user": "v1", "seconds": 3600, "reason": "spam"}
    <- {"op": "close_show", "room": "live-1"}
    <- {"op": "hook_log"}                every callback received so far
    <- {"op": "quit"}

With --serve it is only the webhook receiver, printing each callback and its reply as a
JSON line until interrupted (the README's webhook example).

Each request gets one line back: {"ok": true, ...} with the REST answers, or
{"ok": false, "code": N, "info": "...", "command": "..."} when Tencent's envelope said FAIL
(or {"ok": false, "error": "..."} for anything else). Point the server's callback at
http://127.0.0.1:PORT/im/callback (Liveroom: --callback APP:URL); with --token, a callback
not signed with it (Liveroom: --callback-token APP:TOKEN) is answered 403. hook_log answers
{"ok": true, "log": [{"query": {...}, "body": {...}, "signed": true|false|null}, ...]}.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

# --- UserSig, as Tencent's TLSSigAPIv2 makes it ------------------------------------------


def usersig(sdkappid, key, identifier, expire=180 * 86400):
    """A UserSig v2: HMAC-SHA256 over Tencent's fixed lines, in a zlib'd JSON document,
    base64 with Tencent's URL-safe alphabet (+ -> *, / -> -, = -> _)."""
    now = int(time.time())
    content = (
        "TLS.identifier:%s\n"
        "TLS.sdkappid:%d\n"
        "TLS.time:%d\n"
        "TLS.expire:%d\n" % (identifier, sdkappid, now, expire)
    )
    mac = hmac.new(key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256)
    doc = {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire,
        "TLS.time": now,
        "TLS.sig": base64.b64encode(mac.digest()).decode("ascii"),
    }
    packed = zlib.compress(json.dumps(doc).encode("utf-8"))
    text = base64.b64encode(packed).decode("ascii")
    return text.replace("+", "*").replace("/", "-").replace("=", "_")


# --- The REST API ---------------------------------------------------------------------------


class RestError(Exception):
    """An answer whose ActionStatus is FAIL."""

    def __init__(self, command, answer):
        super().__init__("%s: %s %s" % (command, answer.get("ErrorCode"), answer.get("ErrorInfo")))
        self.command = command
        self.code = answer.get("ErrorCode")
        self.info = answer.get("ErrorInfo", "")


class Rest:
    """Tencent's server API as its SDKs call it: the administrator's identity in the URL,
    a JSON body, HTTP 200 and an envelope whose ActionStatus says how it went."""

    def __init__(self, base, sdkappid, key, admin):
        self.base = base.rstrip("/")
        self.sdkappid = sdkappid
        self.key = key
        self.admin = admin
        self.sig = usersig(sdkappid, key, admin)

    def call(self, command, body):
        query = urllib.parse.urlencode(
            {
                "sdkappid": self.sdkappid,
                "identifier": self.admin,
                "usersig": self.sig,
                "random": random.getrandbits(32),
                "contenttype": "json",
            }
        )
        url = "%s/v4/%s?%s" % (self.base, command, query)
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError("%s: HTTP %d" % (command, response.status))
            answer = json.loads(response.read().decode("utf-8"))
        if answer.get("ActionStatus") != "OK":
            raise RestError(command, answer)
        return answer


# --- The business: shows, gifts, moderation ------------------------------------------------


def open_show(rest, req):
    """Imports the host and the viewers from "our user database" (with their nicks), then
    opens the host's live room."""
    answers = []
    for account in [req["host"]] + req.get("viewers", []):
        answers.append(
            rest.call(
                "im_open_login_svc/account_import",
                {"UserID": account["id"], "Nick": account["nick"]},
            )
        )
    created = rest.call(
        "group_open_http_svc/create_group",
        {
            "Owner_Account": req["host"]["id"],
            "Type": "AVChatRoom",
            "GroupId": req["room"],
            "Name": req["name"],
            "Notification": req.get("notification", ""),
        },
    )
    answers.append(created)
    return {"GroupId": created["GroupId"], "answers": answers}


def gift(rest, req):
    """After the payment cleared, the gift goes into the room as a message from the host
    (From_Account), High priority so that the room's budget never drops it."""
    payload = {"cmd": "gift", "gift": req["gift"], "count": req.get("count", 1)}
    answer = rest.call(
        "group_open_http_svc/send_group_msg",
        {
            "GroupId": req["room"],
            "From_Account": req["from"],
            "Random": random.getrandbits(32),
            "MsgPriority": "High",
            "MsgBody": [
                {
                    "MsgType": "TIMCustomElem",
                    "MsgContent": {
                        "Data": json.dumps(payload),
                        "Desc": req["gift"],
                        "Ext": "",
                    },
                }
            ],
        },
    )
    return {"MsgSeq": answer["MsgSeq"], "MsgTime": answer["MsgTime"]}


def mute(rest, req):
    answer = rest.call(
        "group_open_http_svc/forbid_send_msg",
        {
            "GroupId": req["room"],
            "Members_Account": [req["user"]],
            "MuteTime": req["seconds"],
        },
    )
    return {"answer": answer}


def ban(rest, req):
    answer = rest.call(
        "group_open_http_svc/ban_group_member",
        {
            "GroupId": req["room"],
            "Members_Account": [req["user"]],
            "Duration": req["seconds"],
            "Description": req.get("reason", ""),
        },
    )
    return {"answer": answer}


def close_show(rest, req):
    return {"answer": rest.call("group_open_http_svc/destroy_group", {"GroupId": req["room"]})}


OPS = {
    "open_show": open_show,
    "gift": gift,
    "mute": mute,
    "ban": ban,
    "close_show": close_show,
}

# --- The webhook receiver -------------------------------------------------------------------


class Hooks:
    """What the callbacks brought, and the anti-spam rule the before-send hook applies."""

    def __init__(self, sdkappid, refuse_words, token=None, echo=False):
        self.sdkappid = sdkappid
        self.refuse_words = [w.lower() for w in refuse_words]
        self.token = token
        self.echo = echo
        self.lock = threading.Lock()
        self.log = []

    def signed(self, query):
        """With a token: Sign must be hex(sha256(token + RequestTime)), made in the last
        five minutes (the scheme Liveroom documents for --callback-token)."""
        sent, at = query.get("Sign", ""), query.get("RequestTime", "")
        if not at.isdigit():
            return False
        expected = hashlib.sha256((self.token + at).encode("utf-8")).hexdigest()
        return hmac.compare_digest(expected, sent) and abs(time.time() - int(at)) < 300

    def texts(self, body):
        for elem in body.get("MsgBody") or []:
            content = elem.get("MsgContent") or {}
            if elem.get("MsgType") == "TIMTextElem":
                yield content.get("Text", "")

    def answer(self, query, body):
        reply = self.decide(query, body)
        if self.echo:
            say({"callback": query.get("CallbackCommand"), "body": body, "reply": reply})
        return reply

    def decide(self, query, body):
        """Tencent's reply, or None when the request is not signed as it must be (answered
        403: a failure to the server). ErrorCode 0 lets the message through; a code in
        10100..10200 refuses it, and its ErrorInfo reaches the sender."""
        signed = self.signed(query) if self.token is not None else None
        with self.lock:
            self.log.append({"query": query, "body": body, "signed": signed})
        if signed is False:
            return None
        if query.get("SdkAppid") != str(self.sdkappid):
            return {"ActionStatus": "FAIL", "ErrorCode": 1, "ErrorInfo": "not our SdkAppid"}
        if query.get("CallbackCommand") == "Group.CallbackBeforeSendMsg":
            for text in self.texts(body):
                for word in self.refuse_words:
                    if word in text.lower():
                        return {
                            "ActionStatus": "OK",
                            "ErrorCode": 10101,
                            "ErrorInfo": "refused by the backend: '%s' is not allowed here" % word,
                        }
        return {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}

    def snapshot(self):
        with self.lock:
            return list(self.log)


def receiver(hooks, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            parsed = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parsed.query))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                body = {"unparsed": raw.decode("utf-8", "replace")}
            answer = hooks.answer(query, body)
            reply = json.dumps(answer or {"error": "bad signature"}).encode("utf-8")
            self.send_response(200 if answer is not None else 403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


# --- The control channel --------------------------------------------------------------------


SAY = threading.Lock()


def say(obj):
    """One JSON line on stdout (the receiver's threads print too)."""
    with SAY:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", type=int, required=True, help="SDKAppID")
    parser.add_argument("--key", required=True, help="the app's secret key")
    parser.add_argument("--admin", required=True, help="the app administrator's UserID")
    parser.add_argument("--server", help="the REST API's base URL (or an op 'server')")
    parser.add_argument("--refuse-word", action="append", default=[], help="refuse messages with it")
    parser.add_argument("--hook-port", type=int, default=0, help="webhook port (0: any free one)")
    parser.add_argument("--token", help="the callbacks' signing token (Liveroom: --callback-token)")
    parser.add_argument(
        "--serve", action="store_true", help="only the webhook receiver: print each callback, until ^C"
    )
    args = parser.parse_args()

    hooks = Hooks(args.app, args.refuse_word, args.token, echo=args.serve)
    say({"listening": receiver(hooks, args.hook_port)})
    if args.serve:
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            return
    rest = Rest(args.server, args.app, args.key, args.admin) if args.server else None
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "quit":
                say({"ok": True})
                return
            if op == "server":
                rest = Rest(req["url"], args.app, args.key, args.admin)
                say({"ok": True})
            elif op == "hook_log":
                say({"ok": True, "log": hooks.snapshot()})
            elif op in OPS:
                if rest is None:
                    raise RuntimeError("no server yet: send {\"op\": \"server\", \"url\": ...}")
                result = OPS[op](rest, req)
                result["ok"] = True
                say(result)
            else:
                raise RuntimeError("unknown op %r" % op)
        except RestError as e:
            say({"ok": False, "command": e.command, "code": e.code, "info": e.info})
        except (KeyError, ValueError, RuntimeError, OSError, urllib.error.URLError) as e:
            say({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})


if __name__ == "__main__":
    main()
