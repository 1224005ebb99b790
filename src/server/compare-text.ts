// How rules compare text. Kratos treats login identifiers and addresses without regard to case
// (it lower-cases them before it stores or looks them up), but a hook sees the traits as typed,
// before Kratos normalises anything (CONTRACT §3.3, §5.1): `Mallory@Example.ORG` must meet a rule
// written for `mallory@example.org`. Mail systems also map compatibility forms of a domain (full-
// width letters, ligatures) to plain ones (IDNA/UTS 46), so `x@ｍailinator.com` reaches
// mailinator.com. So every string operator but `matches` compares NFKC-normalised, lower-cased
// text on both sides; `matches` takes the pattern's own flags (`/.../i`).

/** The form both sides of equals / in / in_file / starts_with / ends_with / domain_in take. */
export function comparable(s: string): string {
  // Lower-casing can leave text that is not NFKC (e.g. İ → i + combining dot): normalise again.
  return s.normalize("NFKC").toLowerCase().normalize("NFKC");
}

/**
 * The domain after the last `@`, comparable and without a trailing root dot (`example.org.` is
 * the same domain to a mail system), or undefined when the value is not a string with an @.
 */
export function emailDomain(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const at = v.lastIndexOf("@");
  if (at < 0 || at === v.length - 1) return undefined;
  const d = comparable(v.slice(at + 1)).replace(/\.$/, "");
  return d === "" ? undefined : d;
}
