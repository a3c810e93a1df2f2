// Frame-time counters for the flood benchmark: how long each batched chat render took, and,
// while sampling, the intervals between animation frames (a stalled UI shows long intervals).
// Exposed as `window.liveroomPerf` so a WebDriver script can start, read and reset them.

const MAX_SAMPLES = 20000;

function summary(xs) {
  if (!xs.length) return { count: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { count: s.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: s[s.length - 1] };
}

export const perf = {
  renders: [],
  intervals: [],
  messages: 0,
  sampling: false,
  _last: 0,

  /** Records one batched render: its duration (ms) and how many items it drew. */
  frame(ms, items) {
    if (this.renders.length < MAX_SAMPLES) this.renders.push(ms);
    this.messages += items;
  },

  /** Starts recording frame intervals. */
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
};

window.liveroomPerf = perf;
