// Kratos versions and the config features each one accepts. CONTRACT §8.1, Appendix A.
import { HOOK_LISTS_BY_TAG } from "./hook-lists.data.ts";

/** Tags the spec was read at, oldest first. HEAD is newer than every release. */
export const KNOWN_TAGS = ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.1", "v25.4.0", "v26.2.0", "HEAD"] as const;
export type KnownTag = (typeof KNOWN_TAGS)[number];

/**
 * Every Kratos release kratos-hooks accepts: the spec tags plus the releases between them that
 * changed nothing web_hook-relevant (v1.3.0 follows v1.3.1's rules). A version that is none of
 * these and not newer than the newest is refused: v1.5.0 does not exist, and silently applying
 * v1.3.1's rules to it would hide a typo.
 */
export const KNOWN_RELEASES = ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.3.1", "v25.4.0", "v26.2.0"] as const;

/** A release kratos-hooks knows, or HEAD. Newer versions than the newest release are handled by the caller (a warning). */
export function isKnownRelease(v: Version): boolean {
  return v.head || (KNOWN_RELEASES as readonly string[]).includes(v.text);
}

/** Versions whose config schema ships beside the spec; generated configs are tested against each. */
export const SCHEMA_TESTED_TAGS = ["v1.3.1", "v25.4.0", "v26.2.0", "HEAD"] as const;

export type Version = { major: number; minor: number; patch: number; head: boolean; text: string };

export function parseVersion(text: string): Version | undefined {
  if (text === "HEAD") return { major: Infinity, minor: 0, patch: 0, head: true, text };
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), head: false, text: text.startsWith("v") ? text : `v${text}` };
}

export function compareVersions(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function atLeast(v: Version, min: string): boolean {
  return compareVersions(v, parseVersion(min)!) >= 0;
}

/**
 * The spec tag whose rules apply to `v`: the newest known tag not newer than it. A patch release
 * between two tags follows the older tag, the conservative choice (it may lack the newer tag's keys).
 */
export function rulesTag(v: Version): KnownTag | undefined {
  let found: KnownTag | undefined;
  for (const tag of KNOWN_TAGS) if (compareVersions(parseVersion(tag)!, v) <= 0) found = tag;
  return found;
}

/** Config keys of a web_hook item gated by version (CONTRACT §2.1, §8.1). */
export const FEATURE_MIN_VERSION = {
  emit_analytics_event: "v1.1.0",
  headers: "v1.2.0",
  id: "v25.4.0",
  header_allowlist: "v25.4.0",
  /** Ory-Webhook-Request-Id on every attempt (CONTRACT §4.1). */
  request_id_header: "v1.1.0",
  /** Ory-Webhook-Trigger-Id, same on each retry of one execution (CONTRACT §4.1). */
  trigger_id_header: "v25.4.0",
  /** `session` is moved last by Kratos itself (CONTRACT §1.3). */
  session_forced_last: "v1.2.0",
  /** metadata_admin is readable from a parse response (CONTRACT §5.1). */
  parse_metadata_admin: "v1.1.0",
  parse_external_id: "v25.4.0",
} as const;
export type Feature = keyof typeof FEATURE_MIN_VERSION;

export function supports(v: Version, feature: Feature): boolean {
  return atLeast(v, FEATURE_MIN_VERSION[feature]);
}

/** The hook lists (below selfservice.flows, without `.hooks`) that exist at `v`, with their allowed hook names. */
export function hookListsAt(v: Version): Record<string, readonly string[]> {
  const tag = rulesTag(v);
  return tag ? HOOK_LISTS_BY_TAG[tag]! : {};
}
