// Times as Go's time.Time carries them through restic's JSON: an instant with nanosecond
// precision plus the UTC offset it was written in (formats/restic.md §7.5). The offset matters:
// tree bytes depend on it, and `forget` buckets use the wall clock in the recorded offset.
// Everything is exact integer arithmetic; Date is used only to ask for the host's zone offset.

import { keepOutOfTopTier } from './jit-hints.ts';
import { Utf8Sink } from './utf8-sink.ts';

/** An instant (Unix seconds + nanoseconds) and the UTC offset used to display it. */
export interface GoTime {
  /** Seconds since 1970-01-01T00:00:00Z (integer, may be negative). */
  readonly sec: number;
  /** 0 ≤ nsec < 1e9. */
  readonly nsec: number;
  /** Offset from UTC in minutes, east positive (+05:30 → 330). */
  readonly offsetMinutes: number;
}

/** Go's zero time.Time, 0001-01-01T00:00:00Z: what a missing time field decodes to. */
export const GO_ZERO_TIME: GoTime = Object.freeze({ sec: -62135596800, nsec: 0, offsetMinutes: 0 });

/** Calendar fields of a time in its own offset. */
export interface WallClock {
  year: number;
  month: number; // 1..12
  day: number; // 1..31
  hour: number;
  minute: number;
  second: number;
}

const SECONDS_PER_DAY = 86_400;

/** Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day may overflow). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** The inverse of daysFromCivil. */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: era * 400 + yoe + (month <= 2 ? 1 : 0), month, day };
}

/** The wall clock of `t` in its recorded offset. */
export function wallClock(t: GoTime): WallClock {
  const local = t.sec + t.offsetMinutes * 60;
  const days = Math.floor(local / SECONDS_PER_DAY);
  const secOfDay = local - days * SECONDS_PER_DAY;
  const { year, month, day } = civilFromDays(days);
  return {
    year,
    month,
    day,
    hour: Math.floor(secOfDay / 3600),
    minute: Math.floor((secOfDay % 3600) / 60),
    second: secOfDay % 60,
  };
}

/** Go's Time.ISOWeek of the wall clock: [ISO year, week 1..53]. */
export function isoWeek(t: GoTime): [year: number, week: number] {
  const { year, month, day } = wallClock(t);
  const days = daysFromCivil(year, month, day);
  const weekday = (((days + 3) % 7) + 7) % 7; // Monday = 0 (1970-01-01 was a Thursday)
  const thursday = days - weekday + 3; // the ISO week's year is the year of its Thursday
  const isoYear = civilFromDays(thursday).year;
  const week = Math.floor((thursday - daysFromCivil(isoYear, 1, 1)) / 7) + 1;
  return [isoYear, week];
}

/**
 * Go's Time.AddDate in a fixed offset: adds to the wall-clock year, month and day, then
 * normalises (2024-03-31 minus one month = "2024-02-31" = 2024-03-02); clock time is kept.
 */
export function addDate(t: GoTime, years: number, months: number, days: number): GoTime {
  const wc = wallClock(t);
  let month0 = wc.month - 1 + months;
  const year = wc.year + years + Math.floor(month0 / 12);
  month0 = ((month0 % 12) + 12) % 12;
  const dayNumber = daysFromCivil(year, month0 + 1, 1) + (wc.day - 1) + days;
  const secOfDay = wc.hour * 3600 + wc.minute * 60 + wc.second;
  return {
    sec: dayNumber * SECONDS_PER_DAY + secOfDay - t.offsetMinutes * 60,
    nsec: t.nsec,
    offsetMinutes: t.offsetMinutes,
  };
}

/** Adds an absolute number of seconds (keeps the offset). */
export function addSeconds(t: GoTime, seconds: number): GoTime {
  return { sec: t.sec + seconds, nsec: t.nsec, offsetMinutes: t.offsetMinutes };
}

/** Orders instants (offsets are ignored): negative, zero or positive. */
export function compareInstants(a: GoTime, b: GoTime): number {
  return a.sec !== b.sec ? a.sec - b.sec : a.nsec - b.nsec;
}

/**
 * The host's UTC offset at the instant `sec`, in minutes (what Go's time.Local would use).
 * Offsets with seconds (historic local mean time) are truncated to minutes, as Go prints them.
 */
export function localOffsetMinutes(sec: number): number {
  const offset = -new Date(sec * 1000).getTimezoneOffset();
  // NaN outside Date's range (±275,000 years), where no zone data exists anyway.
  if (Number.isNaN(offset) || offset === 0) return 0;
  return Math.trunc(offset);
}

/** The host zone's UTC offsets from 1900 to 2100, as localOffsetMinutes gives them. */
export interface LocalZone {
  /** Unix seconds from which offsets[i] holds, ascending; from[0] is 1900-01-01. */
  from: number[];
  offsets: number[];
  /** 2100-01-01: times from here on are not covered. */
  end: number;
}

let zone: LocalZone | undefined;

/**
 * The host zone's offsets (for the core, which records node times the way this module does):
 * sampled daily and each change bisected to the second, ~15 ms once per process.
 */
export function localZone(): LocalZone {
  if (!zone) {
    const start = Date.UTC(1900, 0, 1) / 1000;
    const end = Date.UTC(2100, 0, 1) / 1000;
    const day = 86400;
    let current = localOffsetMinutes(start);
    const from = [start];
    const offsets = [current];
    for (let t = start + day; t < end; t += day) {
      const offset = localOffsetMinutes(t);
      if (offset === current) continue;
      let lo = t - day;
      let hi = t;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (localOffsetMinutes(mid) === current) lo = mid;
        else hi = mid;
      }
      from.push(hi);
      offsets.push(offset);
      current = offset;
    }
    zone = { from, offsets, end };
  }
  return zone;
}

/** A GoTime for an instant, shown in `offsetMinutes` (default: the host's zone, as restic does). */
export function goTimeFromUnix(sec: number, nsec: number, offsetMinutes: number = localOffsetMinutes(sec)): GoTime {
  if (!Number.isSafeInteger(sec) || !Number.isInteger(nsec) || nsec < 0 || nsec >= 1e9) {
    throw new RangeError(`invalid time: sec=${sec} nsec=${nsec}`);
  }
  if (!Number.isInteger(offsetMinutes) || Math.abs(offsetMinutes) >= 24 * 60) {
    throw new RangeError(`invalid UTC offset: ${offsetMinutes} minutes`);
  }
  return { sec, nsec, offsetMinutes };
}

/** The current instant, in UTC. */
export function goTimeNow(): GoTime {
  const ms = Date.now();
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: (ms - sec * 1000) * 1_000_000, offsetMinutes: 0 };
}

function pad(value: number, width: number): string {
  return value.toString().padStart(width, '0');
}

/**
 * Go `t.Format(time.RFC3339Nano)` as encoding/json writes it: fraction with trailing zeros
 * removed (none when zero), `Z` for a zero offset, else ±hh:mm. Years outside 0..9999 are an
 * error, as in Go's Time.MarshalJSON.
 */
export function formatRfc3339Nano(t: GoTime): string {
  const sink = new Utf8Sink(40);
  writeRfc3339Nano(sink, t);
  return sink.bytes().toString('latin1');
}

/**
 * Go's RFC3339Nano of `t` written into `sink`, making no strings but the date (cached): trees
 * write three times per entry, and the ten-odd strings a time formatted as a string left behind
 * were ~12 MB of garbage for a directory of 18k entries.
 */
export function writeRfc3339Nano(sink: Utf8Sink, t: GoTime): void {
  const local = t.sec + t.offsetMinutes * 60;
  const days = Math.floor(local / SECONDS_PER_DAY);
  const secOfDay = local - days * SECONDS_PER_DAY;
  sink.ascii(datePrefix(days));
  sink.padded(Math.floor(secOfDay / 3600), 2);
  sink.byte(0x3a);
  sink.padded(Math.floor((secOfDay % 3600) / 60), 2);
  sink.byte(0x3a);
  sink.padded(secOfDay % 60, 2);
  if (t.nsec !== 0) {
    // Nine digits without their trailing zeros, as Go's RFC3339Nano writes them.
    let fraction = t.nsec;
    let width = 9;
    while (fraction % 10 === 0) {
      fraction /= 10;
      width -= 1;
    }
    sink.byte(0x2e);
    sink.padded(fraction, width);
  }
  if (t.offsetMinutes === 0) return sink.byte(0x5a);
  const abs = Math.abs(t.offsetMinutes);
  sink.byte(t.offsetMinutes < 0 ? 0x2d : 0x2b);
  sink.padded(Math.floor(abs / 60), 2);
  sink.byte(0x3a);
  sink.padded(abs % 60, 2);
}
keepOutOfTopTier(writeRfc3339Nano);

const TWO_DIGITS: readonly string[] = Array.from({ length: 100 }, (_, i) => (i < 10 ? '0' : '') + i);

// Tree encoding formats mtime, atime and ctime of every entry: a directory's entries mostly share
// a few days (ctime often one), so the last two dates are kept.
const recentDays = [Number.NaN, Number.NaN];
const recentPrefixes = ['', ''];

/** `YYYY-MM-DDT` of a day number. */
function datePrefix(days: number): string {
  if (days === recentDays[0]) return recentPrefixes[0]!;
  if (days === recentDays[1]) return recentPrefixes[1]!;
  const { year, month, day } = civilFromDays(days);
  if (year < 0 || year > 9999) throw new RangeError(`year ${year} outside of range [0,9999]`);
  const prefix = pad(year, 4) + '-' + TWO_DIGITS[month] + '-' + TWO_DIGITS[day] + 'T';
  recentDays[1] = recentDays[0]!;
  recentPrefixes[1] = recentPrefixes[0]!;
  recentDays[0] = days;
  recentPrefixes[0] = prefix;
  return prefix;
}

/** Thrown for text that is not an RFC 3339 date-time. */
export class TimeParseError extends RangeError {
  constructor(text: string, reason: string) {
    super(`invalid RFC 3339 time ${JSON.stringify(text)}: ${reason}`);
    this.name = 'TimeParseError';
  }
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses any RFC 3339 date-time exactly: nanoseconds kept (digits beyond the ninth dropped,
 * as Go does), the offset kept for re-formatting. Leap seconds (:60) are rejected, as in Go.
 */
export function parseRfc3339(text: string): GoTime {
  return parseCommonRfc3339(text) ?? parseAnyRfc3339(text);
}

/** `n` decimal digits at `at`, or -1. */
function digitsAt(text: string, at: number, n: number): number {
  let value = 0;
  for (let i = at; i < at + n; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

function daysInMonth(year: number, month: number): number {
  if (month !== 2) return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
}

/**
 * Trees hold three times per entry, so the usual shape (`YYYY-MM-DDThh:mm:ss[.digits]` then `Z`
 * or `±hh:mm`, fields in range) is read without a regular expression; anything else, valid or
 * not, is left to the general parser (undefined).
 */
function parseCommonRfc3339(text: string): GoTime | undefined {
  const n = text.length;
  if (n < 20 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return undefined;
  const t = text.charCodeAt(10);
  if (t !== 84 && t !== 116) return undefined;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  if (day > daysInMonth(year, month)) return undefined;
  let at = 19;
  let nsec = 0;
  if (text.charCodeAt(at) === 46) {
    let scale = 100_000_000;
    at++;
    const first = at;
    for (; at < n; at++) {
      const d = text.charCodeAt(at) - 48;
      if (d < 0 || d > 9) break;
      nsec += d * scale; // digits beyond the ninth add nothing (scale reaches 0), as in Go
      scale = Math.floor(scale / 10);
    }
    if (at === first) return undefined;
  }
  let offsetMinutes = 0;
  const z = text.charCodeAt(at);
  if (z === 90 || z === 122) {
    if (at + 1 !== n) return undefined;
  } else if (z === 43 || z === 45) {
    if (at + 6 !== n || text.charCodeAt(at + 3) !== 58) return undefined;
    const oh = digitsAt(text, at + 1, 2);
    const om = digitsAt(text, at + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
    offsetMinutes = (z === 45 ? -1 : 1) * (oh * 60 + om);
  } else return undefined;
  const local = daysFromCivil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
  return { sec: local - offsetMinutes * 60, nsec, offsetMinutes };
}

function parseAnyRfc3339(text: string): GoTime {
  const m = RFC3339.exec(text);
  if (!m) throw new TimeParseError(text, 'expected YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)');
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12) throw new TimeParseError(text, 'month out of range');
  const monthDays = daysFromCivil(month === 12 ? year + 1 : year, month === 12 ? 1 : month + 1, 1) - daysFromCivil(year, month, 1);
  if (day < 1 || day > monthDays) throw new TimeParseError(text, 'day out of range');
  if (hour > 23) throw new TimeParseError(text, 'hour out of range');
  if (minute > 59) throw new TimeParseError(text, 'minute out of range');
  if (second > 59) throw new TimeParseError(text, 'second out of range');
  const nsec = m[7] === undefined ? 0 : Number(m[7].slice(0, 9).padEnd(9, '0'));
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) throw new TimeParseError(text, 'UTC offset out of range');
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const local = daysFromCivil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
  return { sec: local - offsetMinutes * 60, nsec, offsetMinutes };
}
