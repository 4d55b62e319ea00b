// restic's retention duration (`--keep-within 1y2m3d4h`, formats/restic.md §13.2): calendar
// years, months and days plus hours, applied with Go's AddDate rules rather than as a fixed
// number of seconds.

import { addDate, addSeconds, type GoTime } from '../../util/go-time.ts';
import { InvalidConfigError } from '../errors.ts';

export interface KeepDuration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

const PART = /(\d+)([^\d]?)/y;

/**
 * Parses `<integer><unit>` parts with units y, m (months), d, h, as restic does: any order,
 * leading zeros allowed, a repeated unit overwrites the earlier value, "" is the zero duration.
 */
export function parseKeepDuration(text: string, field: string): KeepDuration {
  const d: KeepDuration = { years: 0, months: 0, days: 0, hours: 0 };
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const m = PART.exec(text);
    if (!m) {
      throw new InvalidConfigError(`${field}: invalid duration ${JSON.stringify(text)}: expected a number at ${JSON.stringify(text.slice(start))}`, {
        hint: 'use parts like 1y2m3d4h (years, months, days, hours)',
      });
    }
    const value = Number(m[1]);
    if (!Number.isSafeInteger(value)) throw new InvalidConfigError(`${field}: number ${m[1]} in ${JSON.stringify(text)} is too large`);
    switch (m[2]) {
      case 'y':
        d.years = value;
        break;
      case 'm':
        d.months = value;
        break;
      case 'd':
        d.days = value;
        break;
      case 'h':
        d.hours = value;
        break;
      default:
        throw new InvalidConfigError(
          m[2] ? `${field}: invalid unit '${m[2]}' after number ${value} in ${JSON.stringify(text)}` : `${field}: no unit after number ${value} in ${JSON.stringify(text)}`,
          { hint: 'units are y (years), m (months), d (days) and h (hours), e.g. 1y6m or 36h' },
        );
    }
  }
  return d;
}

export function isZeroDuration(d: KeepDuration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/** restic's printed form: the non-zero parts in y, m, d, h order ("1d12h"). */
export function formatKeepDuration(d: KeepDuration): string {
  return (
    (d.years ? `${d.years}y` : '') + (d.months ? `${d.months}m` : '') + (d.days ? `${d.days}d` : '') + (d.hours ? `${d.hours}h` : '')
  );
}

/**
 * The instant a snapshot must be strictly after to be "within" `d` of `latest`: calendar parts
 * subtracted on latest's wall clock with AddDate normalisation, then hours as absolute time.
 */
export function keepWithinCutoff(latest: GoTime, d: KeepDuration): GoTime {
  return addSeconds(addDate(latest, -d.years, -d.months, -d.days), -d.hours * 3600);
}
