// What a template does with a value, by where the value lands. A value from the webhook body may
// come from a sign-up form (src/kratos/trust.ts), so the encoding is chosen from the place, never
// from the value:
//
//   url      scheme, host and port: never a user-controlled value (`check` refuses it); a path
//            segment or query value is percent-encoded, and a path value "." or ".." (or with
//            such a part between slashes) is refused
//   header   Latin-1 as is; other text as an RFC 8187 ext-value (UTF-8''...); CR, LF or another
//            control character is refused
//   address  exactly one addr-spec that routes to its own domain, passed to the mailer as
//            { name, address }; the display name is text, never parsed as addresses
//   subject  one line (controls become spaces), bounded and folded (src/actions/email.ts)
//   html     escaped; a user-controlled value only where escaping makes it text (htmlRefSpots)
//   text     as is
//   argv     one argv element each, no shell; a value that would start an option ("-...") is
//            refused where the program reads options
import { basename } from "node:path";
import { compileString, TemplateError, type TemplateRef } from "./template.ts";
import { memo } from "./bounded-memo.ts";

// url -------------------------------------------------------------------------------------------

export type UrlPart = "origin" | "path" | "query" | "fragment";

const urlParts = new Map<string, UrlPart[]>();

/**
 * The part of the url each ref of a url template lands in (by ref index), read from the literal
 * text: the origin runs to the first / ? or # after "://". A ref before the path may hold a whole
 * origin (`{{ env.CRM_URL }}/contacts`), so after one the origin ends at the next literal / ? or #.
 */
export function urlRefParts(template: string): UrlPart[] {
  let out = urlParts.get(template);
  if (out) return out;
  out = [];
  let part: UrlPart = "origin";
  let afterScheme = false;
  for (const piece of compileString(template).pieces) {
    if (typeof piece !== "string") {
      out.push(part);
      if (part === "origin") afterScheme = true;
      continue;
    }
    let i = 0;
    if (part === "origin") {
      if (!afterScheme) {
        const s = piece.indexOf("://");
        if (s < 0) continue;
        afterScheme = true;
        i = s + 3;
      }
      const end = piece.slice(i).search(/[/?#]/);
      if (end < 0) continue;
      i += end;
      part = piece[i] === "/" ? "path" : piece[i] === "?" ? "query" : "fragment";
      i++;
    }
    for (; i < piece.length; i++) {
      if (piece[i] === "#") part = "fragment";
      else if (piece[i] === "?" && part === "path") part = "query";
    }
  }
  if (urlParts.size < 1024) urlParts.set(template, out);
  return out;
}

/** A path segment that a URL parser resolves away: ".", "..", or their %2e spellings (WHATWG URL). */
export function isDotSegment(segment: string): boolean {
  return /^(\.|%2e){1,2}$/i.test(segment);
}

/** The first dot segment in a rendered url's path (before any ? or #), or undefined. */
export function dotSegmentInUrl(url: string): string | undefined {
  const s = url.indexOf("://");
  if (s < 0) return undefined;
  // One scan by character code, no slices or regexes: the path starts at the first / ? or # after
  // "://" if that is a "/", and runs to the next ? or #. A dot segment is made of "." and "%2e"
  // only: a path with neither character has none. The worker checks every url it delivers to, and
  // most paths have no dot at all.
  const n = url.length;
  let i = s + 3;
  for (; i < n; i++) {
    const c = url.charCodeAt(i);
    if (c === SLASH || c === QUESTION || c === HASH) break;
  }
  if (i >= n || url.charCodeAt(i) !== SLASH) return undefined;
  let end = i;
  let mayHold = false;
  for (; end < n; end++) {
    const c = url.charCodeAt(end);
    if (c === QUESTION || c === HASH) break;
    if (c === DOT || c === PERCENT) mayHold = true;
  }
  if (!mayHold) return undefined;
  return url.slice(i, end).split(/[/\\]/).find(isDotSegment);
}

const SLASH = 47;
const QUESTION = 63;
const HASH = 35;
const DOT = 46;
const PERCENT = 37;

/** Whether `text` has a "." or a "%", without which no part of it is a dot segment (isDotSegment). */
function mayHoldDotSegment(text: string): boolean {
  return text.includes(".") || text.includes("%");
}

/**
 * The encoders by template (url) and header name: the worker renders every template at every
 * delivery, and an encoder depends on nothing else. Bounded like the template cache.
 */
const urlEncoders = new Map<string, (s: string, ref: TemplateRef, index: number) => string>();
const headerEncoders = new Map<string, (s: string, ref: TemplateRef) => string>();
const MAX_ENCODERS = 1024;

/**
 * The phase-1 encoder of an http url template: every body/hook/job value percent-encoded
 * (encodeURIComponent: no "/", "?", "#", "@" or ":" survives, so a value stays inside its path
 * segment or query value), and a path value that is a dot segment refused, as the URL parser
 * would walk up the path with it.
 */
export function urlEncoder(template: string): (s: string, ref: TemplateRef, index: number) => string {
  return memo(urlEncoders, MAX_ENCODERS, template, makeUrlEncoder);
}

function makeUrlEncoder(template: string): (s: string, ref: TemplateRef, index: number) => string {
  const parts = urlRefParts(template);
  return (s, ref, index) => {
    const e = encodeURIComponent(s);
    // Without a "." or "%" in the value, neither it nor any part of it is a dot segment (and
    // encodeURIComponent adds neither a "." nor a "%2e").
    if (parts[index] === "path" && mayHoldDotSegment(s)) {
      if (isDotSegment(e)) throw new TemplateError(`url: ${ref.text} is '${e}' in the url's path, a dot segment that would walk up the path; refused`);
      // "../admin" stays one segment here ("..%2Fadmin"), but a destination (or a proxy before it)
      // that decodes %2F and %5C before it resolves the path walks up with it.
      if (s.split(/[/\\]/).some(isDotSegment)) {
        throw new TemplateError(`url: ${ref.text} has a '.' or '..' part (or its %2e spelling) between slashes in the url's path, which walks up the path where the destination decodes %2F or %25; refused`);
      }
    }
    return e;
  };
}

// header ----------------------------------------------------------------------------------------

/** CR, LF and the other controls that no HTTP header value may hold (HTAB is allowed). */
const HEADER_CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const NOT_LATIN1 = /[^\x00-\xff]/;

/** Literal header text that cannot be sent as it is: a control character or text outside Latin-1. */
export function headerTextProblem(text: string): string | undefined {
  if (HEADER_CONTROL.test(text)) return "a line break or control character";
  if (NOT_LATIN1.test(text)) return "text outside Latin-1";
  return undefined;
}

/** RFC 8187 ext-value: UTF-8'' then every byte outside attr-char percent-encoded. */
export function rfc8187(text: string): string {
  let out = "UTF-8''";
  for (const b of new TextEncoder().encode(text)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9!#$&+\-.^_`|~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The phase-1 encoder of a header value template: a value in Latin-1 goes as is, other text as an
 * RFC 8187 ext-value; a value with CR, LF or another control character fails the job (it would
 * split the header or be refused by fetch), with a reason naming the header and the ref.
 */
export function headerEncoder(header: string): (s: string, ref: TemplateRef) => string {
  return memo(headerEncoders, MAX_ENCODERS, header, makeHeaderEncoder);
}

function makeHeaderEncoder(header: string): (s: string, ref: TemplateRef) => string {
  return (s, ref) => {
    if (HEADER_CONTROL.test(s)) throw new TemplateError(`header ${header}: ${ref.text} holds a line break or control character, which an HTTP header cannot carry; refused`);
    return NOT_LATIN1.test(s) ? rfc8187(s) : s;
  };
}

// email -----------------------------------------------------------------------------------------

/** A mailbox template: the display name's template (text, never parsed) and the address's. */
export type MailboxTemplate = { name?: string; address: string };

/**
 * Splits `Name <address>` at the template's own angle brackets (literal text), or takes the whole
 * template as the address. Values rendered into either part can never move that boundary.
 */
export function splitMailbox(template: string): MailboxTemplate {
  const m = /^\s*([^<>]*?)\s*<([^<>]*)>\s*$/s.exec(template);
  if (!m) return { address: template.trim() };
  let name = m[1]!;
  const quoted = /^"(.*)"$/s.exec(name);
  if (quoted) name = quoted[1]!.replace(/\\(.)/g, "$1");
  return name ? { name, address: m[2]!.trim() } : { address: m[2]!.trim() };
}

/** Where a display name or subject value goes: one line, so controls become spaces. */
export function oneLine(s: string): string {
  return s.replace(/[\x00-\x1f\x7f\u2028\u2029]+/g, " ");
}

const ATOM = "[\\p{L}\\p{N}!#$%&'*+/=?^_`{|}~-]+";
const LABEL = "[\\p{L}\\p{N}](?:[\\p{L}\\p{N}-]{0,61}[\\p{L}\\p{N}])?";
const ADDR_SPEC = new RegExp(`^${ATOM}(?:\\.${ATOM})*@${LABEL}(?:\\.${LABEL})+$`, "u");

/**
 * Text in a local part that a mail system may read as another address: an RFC 2047 encoded word
 * (`=?utf-8?q?evil=40attacker.test?=`, which RFC 2047 §5 keeps out of addresses, but some parsers
 * decode), and the source routes of old relays (`evil%attacker.test@relay`, `attacker.test!evil`).
 */
const ROUTING_LOCAL_PART = /=\?|[%!]/;
/** A domain whose last label is all digits is an IP address written without brackets, not a name. */
const NUMERIC_TLD = /\.[0-9]+$/;

/**
 * Exactly one addr-spec that mail goes to at its own domain: an RFC 5322 dot-atom local part @ a
 * domain name, RFC 5321 lengths; no display name, comment or list (`a@x.org,evil@y.test` and
 * `Evil <e@y>` are not one); no encoded word or source route in the local part, and no IP address
 * as the domain (`a@127.0.0.1`).
 */
export function isAddrSpec(s: string): boolean {
  if (s.length > 254) return false;
  const at = s.lastIndexOf("@");
  return at > 0 && at <= 64 && ADDR_SPEC.test(s) && !ROUTING_LOCAL_PART.test(s.slice(0, at)) && !NUMERIC_TLD.test(s);
}

/** Literal address text that can never be one addr-spec, whatever the refs hold. */
export function addressTextProblem(text: string): string | undefined {
  if (/[\s,;<>"()[\]\\]/.test(text)) return "more than one address, a display name or a comment";
  return undefined;
}

// html ------------------------------------------------------------------------------------------

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/**
 * Where a ref of an html template lands, read from the template's literal text as an HTML parser
 * reads it (a small tokenizer: text, comments, tags, attributes, and the raw text of script and
 * style). Escaping (escapeHtml) makes a value plain text only where the parser treats it as text:
 *
 *   text       between tags, in a comment, in a title or textarea
 *   attribute  inside a quoted attribute value (`name` says whose)
 *   unquoted   an attribute value without quotes: a space in the value starts a new attribute
 *   tag        a tag name, an attribute name, or between attributes: the value writes markup
 *   raw        the body of a script or style element: the value is code or CSS
 */
export type HtmlSpot = { kind: "text" } | { kind: "attribute"; name: string } | { kind: "unquoted"; name: string } | { kind: "tag" } | { kind: "raw"; element: string };

/** Elements whose content the parser does not read as markup, and which run it (script) or apply it (style). */
const RAW_TEXT = /^(script|style)$/i;

export function htmlRefSpots(template: string): HtmlSpot[] {
  const out: HtmlSpot[] = [];
  type State = "text" | "comment" | "tagName" | "inTag" | "attrName" | "afterAttrName" | "beforeValue" | "dq" | "sq" | "unquoted" | "raw";
  let state = "text" as State;
  let tag = ""; // the open tag's name, lower-cased
  let closing = false;
  let attr = "";
  let raw = ""; // the raw text element we are in
  let text = ""; // literal text seen since the raw element opened
  const spot = (): HtmlSpot => {
    switch (state) {
      case "text":
      case "comment":
        return { kind: "text" };
      case "dq":
      case "sq":
        return { kind: "attribute", name: attr };
      case "unquoted":
      case "beforeValue":
        return { kind: "unquoted", name: attr };
      case "raw":
        return { kind: "raw", element: raw };
      default:
        return { kind: "tag" };
    }
  };
  const endTag = () => {
    state = "text";
    if (!closing && RAW_TEXT.test(tag)) {
      state = "raw";
      raw = tag.toLowerCase();
      text = "";
    }
  };
  for (const piece of compileString(template).pieces) {
    if (typeof piece !== "string") {
      out.push(spot());
      // An escaped value holds no < > " ' &, so it moves no boundary; it is name or value characters.
      if (state === "tagName") tag += "x";
      else if (state === "attrName") attr += "x";
      else if (state === "beforeValue") state = "unquoted";
      else if (state === "afterAttrName") ((state = "attrName"), (attr = "x"));
      continue;
    }
    for (let i = 0; i < piece.length; i++) {
      const c = piece[i]!;
      const space = /\s/.test(c);
      switch (state) {
        case "text":
          if (piece.startsWith("<!--", i)) {
            state = "comment";
            i += 3;
          } else if (c === "<" && (/[A-Za-z/!?]/.test(piece[i + 1] ?? "") || i === piece.length - 1)) {
            // `<` right before a ref: the value would be the tag's name.
            closing = piece[i + 1] === "/";
            if (closing) i++;
            state = "tagName";
            tag = "";
          }
          break;
        case "comment":
          if (piece.startsWith("-->", i)) ((state = "text"), (i += 2));
          break;
        case "raw":
          text += c;
          if (text.toLowerCase().endsWith(`</${raw}`)) ((state = "tagName"), (closing = true), (tag = raw));
          break;
        case "tagName":
          if (c === ">") endTag();
          else if (space) state = "inTag";
          else tag += c;
          break;
        case "inTag":
          if (c === ">") endTag();
          else if (!space && c !== "/") ((state = "attrName"), (attr = c));
          break;
        case "attrName":
          if (c === ">") endTag();
          else if (c === "=") state = "beforeValue";
          else if (space) state = "afterAttrName";
          else attr += c;
          break;
        case "afterAttrName":
          if (c === ">") endTag();
          else if (c === "=") state = "beforeValue";
          else if (!space) ((state = "attrName"), (attr = c));
          break;
        case "beforeValue":
          if (c === '"') state = "dq";
          else if (c === "'") state = "sq";
          else if (c === ">") endTag();
          else if (!space) state = "unquoted";
          break;
        case "dq":
          if (c === '"') state = "inTag";
          break;
        case "sq":
          if (c === "'") state = "inTag";
          break;
        case "unquoted":
          if (c === ">") endTag();
          else if (space) state = "inTag";
          break;
      }
    }
  }
  return out;
}

/**
 * Attributes whose value is inert text: an escaped value there is shown or ignored, never followed,
 * run, parsed as HTML or applied as style. Any other attribute (href, src, srcdoc, style, on*,
 * content, formaction, values, ...) may turn a value into a link, code or markup.
 */
const INERT_ATTRIBUTE = /^(title|alt|class|id|name|value|placeholder|label|lang|dir|width|height|align|valign|colspan|rowspan|border|cellpadding|cellspacing|abbr|headers|scope|summary|color|bgcolor|face|size|(data|aria)-[a-z0-9_.-]+)$/i;

/** Why a user-controlled value cannot go to this spot of an html template, or undefined when escaping makes it text. */
export function htmlSpotProblem(spot: HtmlSpot): string | undefined {
  switch (spot.kind) {
    case "text":
      return undefined;
    case "attribute":
      return INERT_ATTRIBUTE.test(spot.name) ? undefined : `is in the html attribute ${spot.name}`;
    case "unquoted":
      return INERT_ATTRIBUTE.test(spot.name) ? `is in the html attribute ${spot.name} without quotes, where a space would start another attribute` : `is in the html attribute ${spot.name}`;
    case "tag":
      return "is inside an html tag, where it would write a tag or attribute name";
    case "raw":
      return `is inside a ${spot.element} element, whose content is ${spot.element === "script" ? "code" : "CSS"}, not text`;
  }
}

// argv ------------------------------------------------------------------------------------------

/** Programs that run their argument after -c / -e as code: a value there is code, not data. */
const INLINE_CODE: Record<string, RegExp> = {
  sh: /^-[a-z]*c[a-z]*$/, bash: /^-[a-z]*c[a-z]*$/, dash: /^-[a-z]*c[a-z]*$/, zsh: /^-[a-z]*c[a-z]*$/, ksh: /^-[a-z]*c[a-z]*$/, ash: /^-[a-z]*c[a-z]*$/, mksh: /^-[a-z]*c[a-z]*$/, fish: /^-c$/,
  python: /^-c$/, python3: /^-c$/, perl: /^-[a-zA-Z]*[eE]$/, ruby: /^-e$/, node: /^(-e|--eval|-p|--print)$/, bun: /^(-e|--eval|-p|--print)$/, php: /^-r$/,
};

/**
 * The inline script of a command, if it runs one: `[sh, -c, script, ...]`, `[python3, -c, ...]`,
 * through `env [VAR=x ...]` too. `program` is the interpreter's index, `script` the script's.
 */
/**
 * The argv index of the program a command runs: 0, or the one after `env [-opts] [VAR=x ...]`.
 * Before it, `env`'s own elements: options and assignments (a `{{ ... }}` there may be either).
 */
export function programIndex(argv: readonly string[]): number {
  let i = 0;
  if (basename(argv[0] ?? "") === "env") for (i = 1; i < argv.length && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[i]!) || argv[i]!.startsWith("-") || argv[i]!.startsWith("{{")); i++);
  return i;
}

export function inlineScript(argv: readonly string[]): { program: number; flag: number; script: number } | undefined {
  const i = programIndex(argv);
  const flag = INLINE_CODE[basename(argv[i] ?? "")];
  if (!flag) return undefined;
  for (let j = i + 1; j < argv.length; j++) {
    if (flag.test(argv[j]!)) return j + 1 < argv.length ? { program: i, flag: j, script: j + 1 } : undefined;
  }
  return undefined;
}

/**
 * The phase-1 encoder of argv element `element` of an exec command, or undefined when no value of
 * it can be read as an option: a body value that would begin the element with "-" (`-o/etc/x`,
 * `--config=...`) is refused, since the program would take it as an option. Not after a literal
 * `--` element (the end of options) or in the arguments after an inline script (`sh -c script sh
 * "$1"`: data to the script).
 */
export function argvEncoder(argv: readonly string[], element: number): ((s: string, ref: TemplateRef, index: number) => string) | undefined {
  if (element === 0 || argv.slice(1, element).includes("--")) return undefined;
  const script = inlineScript(argv);
  if (script && element > script.script) return undefined;
  // The refs the element starts with, before any literal text or env value (whose value is the operator's).
  let leading = 0;
  for (const piece of compileString(argv[element]!).pieces) {
    if (typeof piece === "string" || piece.kind === "env") break;
    leading++;
  }
  if (leading === 0) return undefined;
  let before = "";
  return (s, ref, index) => {
    if (index < leading && before === "" && s.startsWith("-")) {
      throw new TemplateError(`argv[${element}]: ${ref.text} starts with '-', which the program would read as an option; refused (put a "--" element before it where the program ends its options there)`);
    }
    before += s;
    return s;
  };
}

// enrich ----------------------------------------------------------------------------------------

/**
 * The one rule `check` and `serve` share for enrich patches: the patch is stored in Kratos
 * (metadata_public is shown to the user), so it may not hold an env value.
 */
export function enrichPatchRefProblem(ref: TemplateRef): { message: string; hint: string } | undefined {
  if (ref.kind !== "env") return undefined;
  return { message: `${ref.text} is not allowed in an enrich patch`, hint: "enrich results are stored in Kratos (metadata_public is visible to the user); use {{ body.x }} or a constant" };
}
