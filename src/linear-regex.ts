// `matches` rules run on hostile input (traits, transient_payload, headers), so they run on RE2
// (re2js, a pure-JS port: no native module, works in `bun build --compile` and Deno) instead of
// the backtracking JS engine: matching is linear in the input for every pattern, so a nested
// quantifier cannot stall the event loop, and there is no match limit that silently turns a slow
// match into "no match". RE2 refuses what it cannot run in linear time (backreferences,
// lookaround); `check` reports that as a config error.
import { RE2JS } from "re2js";

export type LinearRegex = { test(input: string): boolean };

/** Flags a `/pattern/flags` rule may carry. g and y only make JS RegExp.test stateful: ignored. */
const FLAGS: Record<string, number> = { i: RE2JS.CASE_INSENSITIVE, m: RE2JS.MULTILINE, s: RE2JS.DOTALL, u: 0, g: 0, y: 0 };

/**
 * Compiles `/pattern/flags` or a bare pattern (JavaScript syntax, as in the docs) for RE2, or says
 * why it cannot. Named groups and `\/` are translated; backreferences and lookaround are refused.
 */
export function compileLinearRegex(source: string): { ok: true; regex: LinearRegex } | { ok: false; reason: string } {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(source);
  const pattern = m ? m[1]! : source;
  let flags = 0;
  for (const f of m?.[2] ?? "") {
    if (!(f in FLAGS)) return { ok: false, reason: `flag '${f}' is not supported (use i, m, s or u)` };
    flags |= FLAGS[f]!;
  }
  // translateRegExp keeps `\k<name>` as literal text; it is a backreference in JavaScript.
  if (/\\k</.test(pattern)) return { ok: false, reason: "backreferences (\\k<name>) cannot run in linear time" };
  try {
    const re = RE2JS.compile(RE2JS.translateRegExp(pattern), flags);
    return { ok: true, regex: { test: (input) => re.test(input) } };
  } catch (err) {
    return { ok: false, reason: (err as Error).message.replace(/^error parsing regexp: /, "") };
  }
}
