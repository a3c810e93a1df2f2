// Probes for the desktop app's benchmark (scripts/bench-app), exposed as `window.liveroomPerf`
// so a WebDriver script can start, read and reset them. Nothing runs unless asked, except the
// startup probe, which watches the first frames and stops once the start screen is up.
//
// Times are performance.now() milliseconds (add performance.timeOrigin for wall-clock time).
// "Drawn" means the next animation frame after the one that laid out the change: that frame
// only starts once the previous one was painted, so the figure is an upper bound by at most
// one frame, never an underestimate.

const MAX_SAMPLES = 20000;
/** The startup probe gives up after this long (a page that never shows its start screen). */
const STARTUP_PROBE_MS = 30000;

function summary(xs) {
  if (!xs.length) return { count: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { count: s.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: s[s.length - 1] };
}

/** Calls `done(t)` with the time of the frame after the next one: the change is on screen. */
function afterPaint(done) {
  requestAnimationFrame(() => requestAnimationFrame(done));
}

/** Whether an element matching `css` is laid out (present, not hidden, has a box). */
function shown(css) {
  const el = document.querySelector(css);
  return !!el && el.getClientRects().length > 0;
}

export const perf = {
  renders: [],
  intervals: [],
  messages: 0,
  sampling: false,
  _last: 0,
  /** Startup: when the first frame, the start screen and the embedded server's address were drawn. */
  startup: { firstFrame: null, startScreen: null, embeddedReady: null },
  /** Named marks from `watch`: trigger (event time) → shown (drawn time), in ms. */
  marks: {},
  typing: null,

  /** Records one batched render: its duration (ms) and how many items it drew. */
  frame(ms, items) {
    if (this.renders.length < MAX_SAMPLES) this.renders.push(ms);
    this.messages += items;
  },

  /** Starts recording frame intervals (requestAnimationFrame gaps). */
  start() {
    this.reset();
    this.sampling = true;
    const tick = (now) => {
      if (!this.sampling) return;
      if (this._last && this.intervals.length < MAX_SAMPLES) this.intervals.push(now - this._last);
      this._last = now;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  },

  stop() {
    this.sampling = false;
    this._last = 0;
    return this.report();
  },

  reset() {
    this.renders = [];
    this.intervals = [];
    this.messages = 0;
  },

  report() {
    return { renderMs: summary(this.renders), frameIntervalMs: summary(this.intervals), messages: this.messages };
  },

  /**
   * Times a user step: from the next click on `trigger` (the event's time stamp) until
   * `target` is laid out and drawn. The result lands in `marks[name]` as `{clickAt, drawnAt, ms}`.
   */
  watch(name, trigger, target) {
    delete this.marks[name];
    const onClick = (e) => {
      if (!e.target.closest || !e.target.closest(trigger)) return;
      document.removeEventListener('click', onClick, true);
      const clickAt = e.timeStamp;
      const end = performance.now() + STARTUP_PROBE_MS;
      const look = (now) => {
        if (shown(target)) afterPaint((drawnAt) => (this.marks[name] = { clickAt, drawnAt, ms: drawnAt - clickAt }));
        else if (now < end) requestAnimationFrame(look);
      };
      requestAnimationFrame(look);
    };
    document.addEventListener('click', onClick, true);
  },

  /**
   * Starts timing keystrokes: for every key pressed into a text field, from the keydown's time
   * stamp (when the key event was made, so time spent waiting for a busy page is counted) to the
   * frame after the one that laid out the field's new value. `handlerDelay` is how late the
   * keydown handler ran after that time stamp.
   */
  startTyping() {
    this.stopTyping();
    const t = { latencies: [], handlerDelays: [], pending: [], typed: 0 };
    t.onKey = (e) => {
      if (e.key.length !== 1) return;
      t.typed++;
      t.handlerDelays.push(performance.now() - e.timeStamp);
      t.pending.push(e.timeStamp);
    };
    t.onInput = () => {
      if (!t.pending.length) return;
      const keys = t.pending;
      t.pending = [];
      afterPaint((drawnAt) => {
        for (const at of keys) if (t.latencies.length < MAX_SAMPLES) t.latencies.push(drawnAt - at);
      });
    };
    document.addEventListener('keydown', t.onKey, true);
    document.addEventListener('input', t.onInput, true);
    this.typing = t;
  },

  /** Stops timing keystrokes; returns the latency summary (ms) and how many keys were typed. */
  stopTyping() {
    const t = this.typing;
    if (!t) return null;
    document.removeEventListener('keydown', t.onKey, true);
    document.removeEventListener('input', t.onInput, true);
    this.typing = null;
    return { typed: t.typed, inputLatencyMs: summary(t.latencies), handlerDelayMs: summary(t.handlerDelays) };
  },
};

/** Watches the first frames after the page's scripts ran until the start screen is ready. */
function probeStartup() {
  const s = perf.startup;
  const end = performance.now() + STARTUP_PROBE_MS;
  const drawn = (key) => afterPaint((at) => {
    if (s[key] === null) s[key] = at;
  });
  let firstSeen = false;
  let screenSeen = false;
  let readySeen = false;
  const look = (now) => {
    if (!firstSeen) {
      firstSeen = true;
      drawn('firstFrame');
    }
    // The start screen is usable once its labels are in (they come with the language).
    const start = document.getElementById('local-start');
    if (!screenSeen && start && start.textContent.trim() && shown('#screen-start')) {
      screenSeen = true;
      drawn('startScreen');
    }
    const address = document.getElementById('embedded-address');
    if (!readySeen && address && /^http/.test(address.textContent)) {
      readySeen = true;
      drawn('embeddedReady');
    }
    if (!(screenSeen && readySeen) && now < end) requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}

window.liveroomPerf = perf;
probeStartup();
