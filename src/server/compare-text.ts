// How rules compare text. Kratos treats login identifiers and addresses without regard to case
// (it lower-cases them before it stores or looks them up), but a hook sees the traits as typed,
// before Kratos normalises anything (CONTRACT §3.3, §5.1): `Mallory@Example.ORG` must meet a rule
// written for `mallory@example.org`. Mail systems also map compatibility forms of a domain (full-
// width letters, ligatures) to plain ones (IDNA/UTS 46), so `x@ｍailinator.com` reaches
// mailinator.com. So every string operator but `matches` compares NFKC-normalised, lower-cased
// text on both sides; `matches` takes the pattern's own flags (`/.../i`). domain_in and
// domain_in_file compare the domain as IDNA resolves it (emailDomain).
import { domainToASCII } from "node:url";

/** The form both sides of equals / in / in_file / starts_with / ends_with / domain_in take. */
export function comparable(s: string): string {
  // Lower-casing can leave text that is not NFKC (e.g. İ → i + combining dot): normalise again.
  return streamSafe(s).normalize("NFKC").toLowerCase().normalize("NFKC");
}

/** More combining marks in a row than the Stream-Safe Text Format allows (UAX #15 §13: 30). */
const LONG_MARK_RUN = /\p{M}{31}/u;
const MARKS_30 = /\p{M}{30}(?=\p{M})/gu;

/**
 * The text in the Stream-Safe Text Format (UAX #15 §13): a combining grapheme joiner (U+034F)
 * after every 30 combining marks in a row. Normalisation sorts each run of combining marks, and
 * the engines sort in time quadratic in the run (measured, Bun 1.4.5: one "a" and 40,000
 * alternating U+0301 U+0316 took 5.6 s to NFKC; a 256 kB body holds 128,000). Kratos's Go
 * normaliser (x/text/unicode/norm) inserts the same joiner at the same count, so both compare the
 * same text.
 */
export function streamSafe(s: string): string {
  return LONG_MARK_RUN.test(s) ? s.replace(MARKS_30, "$&\u034F") : s;
}

/** Characters IDNA drops or refuses without a trace in the length (default ignorables: soft hyphen, joiners, variation selectors...). */
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;
/** The longest domain name, in octets (RFC 1035 §2.3.4); IDNA gives each remaining character at least one. */
const MAX_DOMAIN = 253;

/**
 * The domain after the last `@` as a mail system resolves it: IDNA ToASCII (UTS 46 mapping, so
 * `Bücher.de` and `xn--bcher-kva.de` are one domain, and full-width letters fold), without a
 * trailing root dot (`example.org.` is the same domain); comparable text when IDNA refuses it.
 * Undefined when the value is not a string with an @.
 */
export function emailDomain(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const at = v.lastIndexOf("@");
  if (at < 0 || at === v.length - 1) return undefined;
  const d = comparable(v.slice(at + 1)).replace(/\.$/, "");
  if (d === "") return undefined;
  // Too long to be a domain whatever IDNA maps: it refuses it, so skip the call, whose
  // normalisation is quadratic in a run of marks (the joiners streamSafe put in are ignorable).
  if (d.length > MAX_DOMAIN && d.replace(IGNORABLE, "").length > MAX_DOMAIN) return d;
  return domainToASCII(d) || d;
}
