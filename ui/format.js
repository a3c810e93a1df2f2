// How values are written for people.

/** Unix seconds as a local date and time. */
export function fmtTime(unix) {
  return new Date(Number(unix) * 1000).toLocaleString();
}
