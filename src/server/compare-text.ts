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
  return s.normalize("NFKC").toLowerCase().normalize("NFKC");
}

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
  return domainToASCII(d) || d;
}
