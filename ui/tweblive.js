// TWebLive's IM module, in the app: the seed's exact interface over the shell's commands.
//
// Code written for TWebLive (`TWebLive.createIM({SDKAppID})`, `im.on(TWebLive.EVENT.X, fn)`,
// `im.login(...)`, ...) runs unchanged here. Promises resolve `{code: 0, data}` and reject
// `{code, message}` as TIM's imResponse / imError do. Engine events arrive from the shell in
// batches (one `liveroom://events` emit per ~16 ms); each is delivered as `{name, data, roomID}`
// (`roomID` is beyond the seed: the app may be in several rooms at once).

import { invoke, listen, Channel } from './tauri.js';

/** Event names: the seed's keys with their wire values. */
export const EVENT = Object.freeze({
  IM_READY: 't_im_ready',
  IM_NOT_READY: 't_im_not_ready',
  IM_TEXT_MESSAGE_RECEIVED: 't_text_message_received',
  IM_CUSTOM_MESSAGE_RECEIVED: 't_custom_message_received',
  IM_IMAGE_MESSAGE_RECEIVED: 't_image_message_received',
  IM_REMOTE_USER_JOIN: 't_remote_user_join',
  IM_REMOTE_USER_LEAVE: 't_remote_user_leave',
  IM_KICKED_OUT: 't_kicked_out',
  IM_NET_STATE_CHANGED: 't_net_state_change',
  IM_PUSH_STOPPED: 't_push_stopped',
  // Beyond the seed: the room's online count, pushed every 10 s.
  IM_ONLINE_COUNT: 't_online_count',
  // Beyond the seed: moderation (README "Moderation").
  IM_MESSAGE_DELETED: 't_message_deleted',
  IM_MUTED: 't_muted',
  IM_KICKED_FROM_ROOM: 't_kicked_from_room',
  IM_ROOM_PROFILE_UPDATED: 't_room_profile_updated',
  IM_ROOM_SETTINGS_UPDATED: 't_room_settings_updated',
  IM_ROOM_DISMISSED: 't_room_dismissed',
  IM_MEMBER_REMOVED: 't_member_removed',
  IM_ADMIN_CHANGED: 't_admin_changed',
  // Beyond the seed: back after a gap older than the room's kept history, `{roomID,
  // firstKept}`: the messages before sequence `firstKept` that this client missed are gone.
  IM_MESSAGES_SKIPPED: 't_messages_skipped',
  // Beyond the seed: notices the app's backend sent to everyone in the room (REST
  // send_group_system_notification): TIMGroupSystemNoticeElem messages, the text in
  // `payload.userDefinedField`.
  IM_GROUP_SYSTEM_NOTICE: 't_group_system_notice',
  // Beyond the seed: the room's statistics (as getRoomStats resolves them), pushed every
  // 10 s (the server's --room-stats-every) to the room's moderators in it; `ev.roomID`.
  IM_ROOM_STATS: 't_room_stats',
});

/** Constant values, as the seed's TWebLive.TYPES. */
export const TYPES = Object.freeze({
  MSG_PRIORITY_HIGH: 'High',
  MSG_PRIORITY_NORMAL: 'Normal',
  MSG_PRIORITY_LOW: 'Low',
  MSG_PRIORITY_LOWEST: 'Lowest',
  KICKED_OUT_MULT_ACCOUNT: 'multipleAccount',
  KICKED_OUT_MULT_DEVICE: 'multipleDevice',
  KICKED_OUT_USERSIG_EXPIRED: 'userSigExpired',
  // TIM's (the seed has no REST API): the app's backend kicked the user.
  KICKED_OUT_REST_API: 'REST_API_Kick',
  NET_STATE_CONNECTED: 'connected',
  NET_STATE_CONNECTING: 'connecting',
  NET_STATE_DISCONNECTED: 'disconnected',
  ENTER_ROOM_SUCCESS: 'JoinedSuccess',
  ALREADY_IN_ROOM: 'AlreadyInGroup',
});

const LOG_PREFIX = 'TWebLive |';

/** TIM's imError: an Error with a numeric code. */
export class IMError extends Error {
  constructor(code, message, data) {
    super(message);
    this.name = 'IMError';
    this.code = code;
    if (data !== undefined) this.data = data;
  }
  toJSON() {
    return { code: this.code, message: this.message };
  }
}

/** Turns whatever a command rejected with into an IMError. */
function toIMError(e) {
  if (e instanceof IMError) return e;
  if (e && typeof e === 'object' && typeof e.code === 'number') {
    return new IMError(e.code, String(e.message ?? ''));
  }
  return new IMError(2800, typeof e === 'string' ? e : String(e?.message ?? e));
}

const ok = (data) => ({ code: 0, data });

let instance = null;

/** The seed's IM class. Made through `TWebLive.createIM`, which returns a singleton. */
export class IM {
  constructor(options) {
    if (!options || !options.SDKAppID) throw new Error('请传入 IM 配置！');
    this.SDKAppID = Number(options.SDKAppID);
    this._server = options.server || null;
    // Beyond the seed: extra trusted root certificates (PEM) for a wss:// / https:// server.
    this._caPem = options.caPem || null;
    this._handlers = new Map();
    this._logLevel = 1;
    this._unlisten = null;
    this._connected = null;
    this._listening = listen('liveroom://events', (e) => this._dispatchBatch(e.payload)).then(
      (un) => {
        this._unlisten = un;
      },
    );
  }

  /** Binds the shell's engine to this SDKAppID and server, once, before the first call. */
  _connect() {
    if (!this._connected) {
      this._connected = (async () => {
        await this._listening;
        let server = this._server;
        if (!server) {
          const info = await invoke('start_embedded');
          server = info.address;
        }
        await invoke('connect', { options: { SDKAppID: this.SDKAppID, server, caPem: this._caPem } });
      })().catch((e) => {
        this._connected = null;
        throw e;
      });
    }
    return this._connected;
  }

  async _call(cmd, args) {
    try {
      await this._connect();
      return await invoke(cmd, args);
    } catch (e) {
      const err = toIMError(e);
      this._log(3, `${cmd} failed`, err.code, err.message);
      throw err;
    }
  }

  _log(level, ...args) {
    if (level < this._logLevel) return;
    const f = level >= 3 ? console.error : level === 2 ? console.warn : console.log;
    f(LOG_PREFIX, ...args);
  }

  _dispatchBatch(batch) {
    if (!Array.isArray(batch)) return;
    for (const ev of batch) {
      const event = { name: ev.name, data: ev.data, roomID: ev.roomID };
      // Beyond the seed: a `connecting` net state after a loss says when the next try is,
      // `{attempt, inMs, at}` (`at` in unix ms); `data` stays the seed's state string.
      if (ev.nextTry) event.nextTry = ev.nextTry;
      this._emit(ev.name, event);
    }
  }

  _emit(name, event) {
    const list = this._handlers.get(name);
    if (!list) return;
    for (const { handler, context } of [...list]) {
      try {
        handler.call(context, event);
      } catch (e) {
        // A failing handler never breaks delivery to the others.
        console.error(LOG_PREFIX, `接入侧事件 ${name} 对应的回调函数逻辑存在问题`, e);
      }
    }
  }

  /** Subscribes `handler` to `eventName` (a TWebLive.EVENT value). */
  on(eventName, handler, context) {
    if (typeof handler !== 'function') return;
    if (!this._handlers.has(eventName)) this._handlers.set(eventName, []);
    this._handlers.get(eventName).push({ handler, context });
  }

  /** Removes what `on` added with the same handler (and context, when given). */
  off(eventName, handler, context) {
    const list = this._handlers.get(eventName);
    if (!list) return;
    const i = list.findIndex(
      (h) => h.handler === handler && (context === undefined || h.context === context),
    );
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this._handlers.delete(eventName);
  }

  /** 0 verbose, 1 release (default), 2 warnings, 3 errors, 4 silent. */
  setLogLevel(level) {
    this._logLevel = Number(level);
    invoke('set_log_level', { level: this._logLevel }).catch(() => {});
  }

  async login({ userID, userSig } = {}) {
    const r = await this._call('login', { options: { userID, userSig } });
    return ok({ repeatLogin: !!r.repeatLogin, ...(r.repeatLogin ? { errorInfo: 'repeat login' } : {}) });
  }

  async logout() {
    await this._call('logout');
    return ok({});
  }

  async createRoom(options = {}) {
    const { name, roomID, notification, introduction, avatar } = options;
    const group = await this._call('create_room', {
      options: {
        name,
        roomID: roomID === undefined || roomID === null || roomID === '' ? null : String(roomID),
        notification: notification || '',
        introduction: introduction || '',
        avatar: avatar || '',
      },
    });
    return ok({ group });
  }

  async enterRoom(roomID) {
    const r = await this._call('enter_room', { roomId: String(roomID) });
    return ok(r);
  }

  async exitRoom(roomID) {
    await this._call('exit_room', { roomId: String(roomID) });
    return ok({ groupID: String(roomID) });
  }

  async setMyProfile(options = {}) {
    const p = await this._call('set_my_profile', {
      options: { nick: options.nick ?? null, avatar: options.avatar ?? null },
    });
    return ok(p);
  }

  async getMyProfile() {
    const p = await this._call('get_my_profile');
    return ok({ nick: p.nick, avatar: p.avatar, userID: p.userID });
  }

  async sendTextMessage({ roomID, text, priority } = {}) {
    const message = await this._call('send_text_message', {
      options: { roomID: String(roomID), text, priority: priority || TYPES.MSG_PRIORITY_NORMAL },
    });
    return ok({ message });
  }

  async sendCustomMessage(options = {}) {
    // The seed documents the fields both flat and under `payload`: accept either.
    const p = options.payload || options;
    const message = await this._call('send_custom_message', {
      options: {
        roomID: String(options.roomID),
        data: p.data ?? '',
        description: p.description ?? '',
        extension: p.extension ?? '',
        priority: options.priority || TYPES.MSG_PRIORITY_NORMAL,
      },
    });
    return ok({ message });
  }

  /**
   * `file`: an `<input type=file>`, a File/Blob, or (beyond the seed) `{path}` from the native
   * picker. Bytes from the web side are staged in the shell first, then uploaded by the engine,
   * which reports progress (0..1) through `onProgress`.
   */
  async sendImageMessage(options = {}) {
    const { roomID, priority, onProgress } = options;
    let file = options.file ?? options.payload?.file;
    if (file && typeof HTMLInputElement !== 'undefined' && file instanceof HTMLInputElement) {
      file = file.files && file.files[0];
    }
    if (!file) throw new IMError(10004, 'sendImageMessage: file is required');
    const source = {};
    try {
      if (typeof file.path === 'string' && !(file instanceof Blob)) {
        source.path = file.path;
      } else if (file instanceof Blob) {
        const bytes = new Uint8Array(await file.arrayBuffer());
        source.stagedId = await invoke('stage_image', bytes);
      } else {
        throw new IMError(10004, 'sendImageMessage: file must be an input, a File or {path}');
      }
    } catch (e) {
      throw toIMError(e);
    }
    const channel = new Channel();
    channel.onmessage = (fraction) => {
      if (typeof onProgress === 'function') {
        try {
          onProgress(fraction);
        } catch (e) {
          console.error(LOG_PREFIX, 'onProgress failed', e);
        }
      }
    };
    const message = await this._call('send_image_message', {
      options: { roomID: String(roomID), priority: priority || TYPES.MSG_PRIORITY_NORMAL, ...source },
      onProgress: channel,
    });
    return ok({ message });
  }

  async stopPush({ roomID, postscript } = {}) {
    const message = await this._call('stop_push', {
      options: { roomID: String(roomID), postscript: postscript || '' },
    });
    return ok({ message });
  }

  // Beyond the seed: moderation. Each resolves `{code: 0, data}`; members and guests get 10007.

  /** `{roomID, messageID, reason?}`: the room gets t_message_deleted. */
  async deleteMessage({ roomID, messageID, reason } = {}) {
    const r = await this._call('delete_message', {
      options: { roomID: String(roomID), messageID: String(messageID), reason: reason || '' },
    });
    return ok(r);
  }

  /** `{roomID, userID, muteTime, reason?}`: muteTime in seconds (1 s .. 14 days). */
  async muteMember({ roomID, userID, muteTime, reason } = {}) {
    const r = await this._call('mute_member', {
      options: { roomID: String(roomID), userID: String(userID), seconds: Number(muteTime), reason: reason || '' },
    });
    return ok(r);
  }

  async unmuteMember({ roomID, userID } = {}) {
    const r = await this._call('unmute_member', { options: { roomID: String(roomID), userID: String(userID) } });
    return ok(r);
  }

  async kickMember({ roomID, userID, reason } = {}) {
    const r = await this._call('kick_member', {
      options: { roomID: String(roomID), userID: String(userID), reason: reason || '' },
    });
    return ok(r);
  }

  /** `{roomID, userID, banTime?, reason?}`: banTime in seconds; absent bans for good. */
  async banMember({ roomID, userID, banTime, reason } = {}) {
    const r = await this._call('ban_member', {
      options: {
        roomID: String(roomID),
        userID: String(userID),
        seconds: banTime === undefined || banTime === null ? null : Number(banTime),
        reason: reason || '',
      },
    });
    return ok(r);
  }

  async unbanMember({ roomID, userID } = {}) {
    const r = await this._call('unban_member', { options: { roomID: String(roomID), userID: String(userID) } });
    return ok(r);
  }

  /** `{roomID, on}`: resolves the room's settings `{muteAll, slowMode}`. */
  async setMuteAll({ roomID, on } = {}) {
    const r = await this._call('set_mute_all', { options: { roomID: String(roomID), on: !!on } });
    return ok(r);
  }

  /** `{roomID, seconds}` (0: off): resolves the room's settings `{muteAll, slowMode}`. */
  async setSlowMode({ roomID, seconds } = {}) {
    const r = await this._call('set_slow_mode', {
      options: { roomID: String(roomID), seconds: Number(seconds) || 0 },
    });
    return ok(r);
  }

  /** `{roomID, action: 'add'|'remove'|'list', word?}`: resolves the words after the change. */
  async blockedWords({ roomID, action, word } = {}) {
    const r = await this._call('blocked_words', {
      options: { roomID: String(roomID), action: action || 'list', word: word ?? null },
    });
    return ok(r);
  }

  /** `{roomID, limit?}`: resolves the audit log, newest first. */
  async getAuditLog({ roomID, limit } = {}) {
    const r = await this._call('get_audit_log', {
      options: { roomID: String(roomID), limit: limit ? Number(limit) : null },
    });
    return ok(r);
  }

  /**
   * `{roomID, userID}`: moderators; resolves `{userID, role, inRoom, mutedUntil?, banned,
   * bannedUntil?}` (times in unix seconds; a ban without `bannedUntil` is for good).
   */
  async getMember({ roomID, userID } = {}) {
    const r = await this._call('get_member', {
      options: { roomID: String(roomID), userID: String(userID) },
    });
    return ok(r);
  }

  /**
   * `{roomID}`: moderators; resolves `{admins: [userID], muted: [{userID, until}], banned:
   * [{userID, until?}]}` (a ban without `until` is for good).
   */
  async getRestrictions({ roomID } = {}) {
    const r = await this._call('get_restrictions', { options: { roomID: String(roomID) } });
    return ok(r);
  }

  /**
   * `{roomID}`: moderators (others 10007); resolves the room's statistics as the server
   * counts them (every node's), times in unix seconds: `{roomID, startedAt, at, online,
   * peakOnline, minutes: [{at, online, messages}] (one per minute, oldest first, ≤ 1440),
   * messagesLastMinute, messagesTotal, likesTotal, giftsTotal, topGifters: [{userID, nick,
   * gifts}] (≤ 10, most gifts first)}`. Moderators in the room also get them as
   * EVENT.IM_ROOM_STATS.
   */
  async getRoomStats({ roomID } = {}) {
    const r = await this._call('get_room_stats', { options: { roomID: String(roomID) } });
    return ok(r);
  }

  /** `{roomID, userID, admin}`: owner or app administrator; the room gets t_admin_changed. */
  async setAdmin({ roomID, userID, admin } = {}) {
    const r = await this._call('set_admin', {
      options: { roomID: String(roomID), userID: String(userID), admin: !!admin },
    });
    return ok(r);
  }

  /** `{roomID, name?, notification?, introduction?, avatar?}`: resolves the new profile. */
  async editRoom({ roomID, name, notification, introduction, avatar } = {}) {
    const opt = (v) => (v === undefined || v === null ? null : String(v));
    const r = await this._call('edit_room', {
      options: { roomID: String(roomID), name: opt(name), notification: opt(notification), introduction: opt(introduction), avatar: opt(avatar) },
    });
    return ok({ group: r });
  }

  /** `{roomID}`: owner only; everyone gets t_room_dismissed. */
  async dismissRoom({ roomID } = {}) {
    await this._call('dismiss_room', { options: { roomID: String(roomID) } });
    return ok({ groupID: String(roomID) });
  }

  /** Beyond the seed: drops the singleton's listener (the app's "change server"). */
  _destroy() {
    if (this._unlisten) this._unlisten();
    this._handlers.clear();
  }
}

/** Returns the one IM instance, making it on the first call (later options are ignored). */
export function createIM(options) {
  if (!instance) instance = new IM(options);
  return instance;
}

/** Beyond the seed: forgets the singleton so the app can switch server or app. */
export async function destroyIM() {
  if (!instance) return;
  const im = instance;
  instance = null;
  im._destroy();
  await invoke('disconnect').catch(() => {});
}

/**
 * As Tencent's demo helper `genTestUserSig`, on the embedded server: signs a UserSig for
 * `userID` with the key kept in the app's data folder. Resolves `{SDKAppID, userSig}`.
 */
export async function genTestUserSig(userID) {
  try {
    const r = await invoke('gen_test_user_sig', { userId: String(userID) });
    return { SDKAppID: r.SDKAppID, userSig: r.userSig };
  } catch (e) {
    throw toIMError(e);
  }
}

export const TWebLive = Object.freeze({
  VERSION: '1.3.1-liveroom',
  EVENT,
  TYPES,
  createIM,
  destroyIM,
  genTestUserSig,
  IMError,
});

export default TWebLive;
