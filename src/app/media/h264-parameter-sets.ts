/**
 * H.264 Annex B helpers for the muxer: find the parameter sets (SPS, NAL type 7; PPS, type 8) a key
 * frame carries in-band, so the host can tell whether independently encoded clips share them
 * (then the MP4 gets an 'avc1' sample entry) or not (then 'avc3', parameter sets in-band).
 * Pure; Node and browser. Input is untrusted bytes: never reads out of bounds.
 */

/** NAL unit payloads (start codes removed) of an Annex B access unit. */
export function annexBNalUnits(data: Uint8Array): Uint8Array[] {
  const units: Uint8Array[] = [];
  let start = -1;
  let i = 0;
  while (i + 2 < data.length) {
    // A start code is 00 00 01 (a 4-byte 00 00 00 01 ends in the same three bytes).
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) units.push(trimTrailingZeros(data.subarray(start, i)));
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start >= 0 && start < data.length) units.push(trimTrailingZeros(data.subarray(start)));
  return units.filter((u) => u.length > 0);
}

function trimTrailingZeros(unit: Uint8Array): Uint8Array {
  let end = unit.length;
  while (end > 0 && unit[end - 1] === 0) end--;
  return unit.subarray(0, end);
}

export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_IDR = 5;

export function nalType(unit: Uint8Array): number {
  return unit[0]! & 0x1f;
}

/**
 * A canonical string of the SPS and PPS units in an access unit (hex, in order), or '' if it has
 * none. Two clips whose key frames give the same string can share one avcC.
 */
export function parameterSetsKey(accessUnit: Uint8Array): string {
  return annexBNalUnits(accessUnit)
    .filter((u) => nalType(u) === NAL_SPS || nalType(u) === NAL_PPS)
    .map((u) => Array.from(u, (b) => b.toString(16).padStart(2, '0')).join(''))
    .join('|');
}
