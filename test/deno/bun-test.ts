// The part of bun:test the shared suites use, on Deno's test runner, so that one suite file runs
// under both runtimes (test/deno/import-map.json maps "bun:test" here; run with `deno test
// --import-map test/deno/import-map.json ...`). describe/test/hooks become Deno.test cases with
// the enclosing hooks run around each (every case is registered before the first one runs, so a
// describe's afterAll runs after its last case); expect() has the matchers the suites use, with bun:test's
// meanings (toEqual ignores undefined properties and prototypes: node:sqlite rows have none).
type Fn = () => unknown | Promise<unknown>;
type Suite = { name: string; parent?: Suite; beforeEach: Fn[]; afterEach: Fn[]; beforeAll: Fn[]; afterAll: Fn[]; tests: number; done: number };

declare const Deno: { test(t: { name: string; fn: () => Promise<void>; sanitizeOps: boolean; sanitizeResources: boolean; sanitizeExit: boolean }): void };

const root: Suite = { name: "", beforeEach: [], afterEach: [], beforeAll: [], afterAll: [], tests: 0, done: 0 };
let current = root;
const started = new Set<Suite>();

export function describe(name: string, fn: () => void): void {
  const suite: Suite = { name, parent: current, beforeEach: [], afterEach: [], beforeAll: [], afterAll: [], tests: 0, done: 0 };
  const outer = current;
  current = suite;
  try {
    fn();
  } finally {
    current = outer;
  }
}

export const beforeEach = (fn: Fn) => void current.beforeEach.push(fn);
export const afterEach = (fn: Fn) => void current.afterEach.push(fn);
export const beforeAll = (fn: Fn) => void current.beforeAll.push(fn);
/** Run once the last case of its describe (or module) has run; not at all when a filter skips a case. */
export const afterAll = (fn: Fn) => void current.afterAll.push(fn);
function chain(suite: Suite): Suite[] {
  const list: Suite[] = [];
  for (let s: Suite | undefined = suite; s; s = s.parent) list.unshift(s);
  return list;
}

export function test(name: string, fn: Fn, _timeoutMs?: number): void {
  const suites = chain(current);
  const fullName = [...suites.map((s) => s.name).filter(Boolean), name].join(" > ");
  Deno.test({
    name: fullName,
    // Store threads outlive a single case's promise by design (closed in afterEach).
    sanitizeOps: false,
    sanitizeResources: false,
    sanitizeExit: false,
    async fn() {
      for (const s of suites) {
        if (!started.has(s)) {
          started.add(s);
          for (const h of s.beforeAll) await h();
        }
      }
      for (const s of suites) for (const h of s.beforeEach) await h();
      try {
        await fn();
      } finally {
        for (const s of [...suites].reverse()) for (const h of s.afterEach) await h();
        for (const s of [...suites].reverse()) if (++s.done === s.tests) for (const h of s.afterAll) await h();
      }
    },
  });
  for (const s of suites) s.tests++;
}
export const it = test;

function show(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x === undefined ? "<undefined>" : x));
  } catch {
    return String(v);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

/** bun:test's toEqual: recursive, ignoring properties whose value is undefined and prototypes. */
export function equals(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (!isObject(a) || !isObject(b)) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equals(x, b[i]));
  if (a instanceof Set && b instanceof Set) return a.size === b.size && [...a].every((x) => [...b].some((y) => equals(x, y)));
  if (a instanceof Map && b instanceof Map) return a.size === b.size && [...a].every(([k, v]) => b.has(k) && equals(v, b.get(k)));
  const keys = (o: Record<string, unknown>) => Object.keys(o).filter((k) => o[k] !== undefined);
  const ka = keys(a);
  const kb = keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && equals(a[k], b[k]));
}

/** bun:test's toMatchObject: every property of `expected` matches, recursively; arrays element by element. */
function matches(actual: unknown, expected: unknown): boolean {
  if (!isObject(expected) || !isObject(actual)) return equals(actual, expected);
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => matches(actual[i], e));
  if (expected instanceof RegExp) return typeof actual === "string" && expected.test(actual);
  return Object.keys(expected).every((k) => k in actual && matches(actual[k], expected[k]));
}

type Matchers = {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toStrictEqual(expected: unknown): void;
  toMatchObject(expected: unknown): void;
  toBeUndefined(): void;
  toBeDefined(): void;
  toBeNull(): void;
  toBeTruthy(): void;
  toBeFalsy(): void;
  toBeLessThan(n: number): void;
  toBeLessThanOrEqual(n: number): void;
  toBeGreaterThan(n: number): void;
  toBeGreaterThanOrEqual(n: number): void;
  toHaveLength(n: number): void;
  toContain(item: unknown): void;
  toMatch(re: RegExp | string): void;
  toBeInstanceOf(c: abstract new (...a: never[]) => unknown): void;
  toThrow(expected?: unknown): void;
};

function thrownMatches(err: unknown, expected: unknown): boolean {
  if (expected === undefined) return true;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof expected === "string") return message.includes(expected);
  if (expected instanceof RegExp) return expected.test(message);
  if (typeof expected === "function") return err instanceof (expected as new () => unknown);
  if (isObject(expected)) return matches(err, expected);
  return false;
}

function matchers(actual: unknown, negate: boolean): Matchers {
  const check = (ok: boolean, what: string) => {
    if (ok === negate) throw new Error(`expect(${show(actual)})${negate ? ".not" : ""}.${what}`);
  };
  return {
    toBe: (e) => check(Object.is(actual, e), `toBe(${show(e)})`),
    toEqual: (e) => check(equals(actual, e), `toEqual(${show(e)})`),
    toStrictEqual: (e) => check(equals(actual, e), `toStrictEqual(${show(e)})`),
    toMatchObject: (e) => check(matches(actual, e), `toMatchObject(${show(e)})`),
    toBeUndefined: () => check(actual === undefined, "toBeUndefined()"),
    toBeDefined: () => check(actual !== undefined, "toBeDefined()"),
    toBeNull: () => check(actual === null, "toBeNull()"),
    toBeTruthy: () => check(!!actual, "toBeTruthy()"),
    toBeFalsy: () => check(!actual, "toBeFalsy()"),
    toBeLessThan: (n) => check((actual as number) < n, `toBeLessThan(${n})`),
    toBeLessThanOrEqual: (n) => check((actual as number) <= n, `toBeLessThanOrEqual(${n})`),
    toBeGreaterThan: (n) => check((actual as number) > n, `toBeGreaterThan(${n})`),
    toBeGreaterThanOrEqual: (n) => check((actual as number) >= n, `toBeGreaterThanOrEqual(${n})`),
    toHaveLength: (n) => check((actual as { length?: number })?.length === n, `toHaveLength(${n})`),
    toContain: (item) =>
      check(typeof actual === "string" ? actual.includes(item as string) : Array.isArray(actual) && actual.some((x) => Object.is(x, item)), `toContain(${show(item)})`),
    toMatch: (re) => check(typeof actual === "string" && (typeof re === "string" ? actual.includes(re) : re.test(actual)), `toMatch(${re})`),
    toBeInstanceOf: (c) => check(actual instanceof c, `toBeInstanceOf(${c.name})`),
    toThrow: (e) => {
      let threw = false;
      let err: unknown;
      try {
        (actual as () => unknown)();
      } catch (x) {
        threw = true;
        err = x;
      }
      check(threw && thrownMatches(err, e), `toThrow(${show(e)}), got ${threw ? show(err instanceof Error ? err.message : err) : "no error"}`);
    },
  };
}

type Expectation = Matchers & {
  not: Matchers;
  rejects: { toThrow(expected?: unknown): Promise<void>; toBeInstanceOf(c: abstract new (...a: never[]) => unknown): Promise<void>; toMatchObject(e: unknown): Promise<void> };
  resolves: { toBe(e: unknown): Promise<void>; toEqual(e: unknown): Promise<void>; toMatchObject(e: unknown): Promise<void>; toBeUndefined(): Promise<void> };
};

export function expect(actual: unknown): Expectation {
  const settled = async () => {
    try {
      return { ok: true as const, value: await actual };
    } catch (err) {
      return { ok: false as const, err };
    }
  };
  const rejected = async (check: (err: unknown) => void) => {
    const r = await settled();
    if (r.ok) throw new Error(`expected a rejection, got ${show(r.value)}`);
    check(r.err);
  };
  const resolved = async (check: (m: Matchers) => void) => {
    const r = await settled();
    if (!r.ok) throw new Error(`expected a value, got the rejection ${show(r.err instanceof Error ? r.err.message : r.err)}`);
    check(matchers(r.value, false));
  };
  return {
    ...matchers(actual, false),
    not: matchers(actual, true),
    rejects: {
      toThrow: (e) => rejected((err) => matchers(() => { throw err; }, false).toThrow(e)),
      toBeInstanceOf: (c) => rejected((err) => matchers(err, false).toBeInstanceOf(c)),
      toMatchObject: (e) => rejected((err) => matchers(err, false).toMatchObject(e)),
    },
    resolves: {
      toBe: (e) => resolved((m) => m.toBe(e)),
      toEqual: (e) => resolved((m) => m.toEqual(e)),
      toMatchObject: (e) => resolved((m) => m.toMatchObject(e)),
      toBeUndefined: () => resolved((m) => m.toBeUndefined()),
    },
  };
}
