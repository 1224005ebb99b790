// Job ids: uuid v7 (RFC 9562 §5.7), time-ordered, so jobs due at the same ms are handed out in
// creation order (sqlite/claim-due-jobs.ts byDueThenId). Bun makes them natively; elsewhere (Deno) they are
// made here in the same layout: a 48-bit ms timestamp, a 12-bit counter that keeps ids made in
// one ms in order (RFC 9562 §6.2, method 1), then 62 random bits.
import { RUNTIME } from "../runtime.ts";

let lastMs = 0;
let counter = 0;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function portableUuidV7(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    lastMs = ms;
    counter = 0;
  } else if (++counter > 0xfff) {
    lastMs++; // 4096 ids in one ms: borrow the next ms rather than lose the order
    counter = 0;
  }
  ms = lastMs;
  const b = crypto.getRandomValues(new Uint8Array(16));
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = 0x70 | (counter >> 8);
  b[7] = counter & 0xff;
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = Array.from(b, (x) => HEX[x]!);
  return `${h.slice(0, 4).join("")}-${h.slice(4, 6).join("")}-${h.slice(6, 8).join("")}-${h.slice(8, 10).join("")}-${h.slice(10).join("")}`;
}

export const newUuidV7: () => string = RUNTIME === "bun" ? () => Bun.randomUUIDv7() : portableUuidV7;
