// JSON Schema's `format: "uri"` as Kratos asserts it. Kratos validates its config with
// ory/jsonschema, whose uri check is Go's url.Parse plus IsAbs (a scheme): linear in the input,
// with no length limit. ajv-formats' uri regex backtracks per character, and past ~75,000
// characters JavaScriptCore gives up and reports "no match", so a valid base64:// body of a large
// hook (HEAD accepts 256 KiB of Jsonnet output) would be refused by us and accepted by Kratos.
// CONTRACT §2.1 (`config.url` / `config.body` are format uri), §2.4.

/**
 * What Go's url.Parse refuses, and IsAbs: no scheme, an ASCII control character, a space or other
 * invalid character in the host, a `%` not followed by two hex digits outside the query.
 */
export function kratosUriFormat(s: string): boolean {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(s);
  if (!scheme) return false;
  if (/[\x00-\x1f\x7f]/.test(s)) return false;
  const rest = s.slice(scheme[0].length);
  const query = rest.indexOf("?");
  const fragment = rest.indexOf("#");
  // Go unescapes the path and the fragment at parse time; the raw query is kept as it is.
  const unescaped = query < 0 ? rest : rest.slice(0, query) + (fragment > query ? rest.slice(fragment) : "");
  if (/%(?![0-9A-Fa-f]{2})/.test(unescaped)) return false;
  if (rest.startsWith("//")) {
    const authority = /^\/\/([^/?#]*)/.exec(rest)![1]!;
    const host = authority.slice(authority.lastIndexOf("@") + 1);
    if (!/^(\[[0-9A-Fa-f:.]+(%25[^\]]*)?\]|[^\s"<>\\^`{|}[\]]*)(:[0-9]*)?$/.test(host)) return false;
  }
  return true;
}
