// The admin page in a real browser: Debian's chromium, headless, driven by puppeteer-core, against
// `serve` (startServer) on 127.0.0.1 with a real SQLite store, a real worker and an HTTP sink
// whose answers the test switches. Screenshots go to a temp dir and are checked not to be blank.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { startServer, type RunningServer } from "../../src/commands/serve.ts";
import { loadConfigText } from "../../src/config/load.ts";
import { memoryLogger } from "../../src/server/log.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const TOKEN = "browser-test-admin-token-0123456789";
const SECRET = "browser-test-hook-secret";
const HOSTILE_NAME = `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script>`;
const dir = mkdtempSync(join(tmpdir(), "kh-admin-browser-"));
const SCREENSHOTS = join(dir, "screenshots");
mkdirSync(SCREENSHOTS);

let sinkStatus = 204;
const sink = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(sinkStatus < 300 ? null : "crm is down", { status: sinkStatus }) });
let server: RunningServer;
let browser: Browser;
let page: Page;
let admin = "";
let receiver = "";

beforeAll(async () => {
  if (!CHROMIUM) throw new Error("chromium is not installed: run scripts/setup.sh (apt-get install chromium)");
  const yaml = `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
serve:
  listen: 127.0.0.1:0
  store: sqlite:${join(dir, "outbox.db")}
  poll: 20ms
  shutdown_timeout: 2s
  admin: { listen: 127.0.0.1:0, token_env: ADMIN_TOKEN }
hooks:
  welcome:
    on: registration.after
    methods: [password]
    mode: notify
    auth: { type: api_key, in: header, name: X-Secret, secret_env: HOOK_SECRET }
    body:
      identity_id: identity.id
      name: identity.traits.name
    actions:
      - name: crm
        http: { url: "http://127.0.0.1:${sink.port}/contacts", body: { name: "{{body.name}}" } }
        retry: { attempts: 2, base: 10ms, cap: 20ms }
`;
  const file = join(dir, "hooks.yaml");
  writeFileSync(file, yaml);
  const env = { ADMIN_TOKEN: TOKEN, HOOK_SECRET: SECRET };
  server = await startServer({ config: loadConfigText(yaml, file, { env, cwd: dir }), log: memoryLogger("warn"), env });
  admin = `http://127.0.0.1:${server.admin!.port}`;
  receiver = `http://127.0.0.1:${server.listening.port}`;
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.shutdown("test done");
  sink.stop(true);
  // Screenshots stay for a look when KEEP_SCREENSHOTS is set.
  if (process.env.KEEP_SCREENSHOTS) console.log(`screenshots: ${SCREENSHOTS}`);
  else rmSync(dir, { recursive: true, force: true });
});

async function pushWebhook(trigger: string, name = "Ann"): Promise<void> {
  const res = await fetch(`${receiver}/hooks/welcome`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-secret": SECRET, "ory-webhook-trigger-id": trigger },
    body: JSON.stringify({ identity_id: crypto.randomUUID(), name }),
  });
  expect(res.status).toBe(204);
}

/** Reloads `url` until `cond` holds on the page (the pages are static HTML: no live script). */
async function watch(url: string, cond: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    await page.goto(url, { waitUntil: "domcontentloaded" });
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; page says: ${await text()}`);
    await Bun.sleep(100);
  }
}

/** What the page's elements are read for (the test's tsconfig has no DOM library). */
type Text = { innerText: string };
const text = () => page.$eval("body", (b) => (b as unknown as Text).innerText);

/** A screenshot saved to disk, checked in a blank tab to hold many colours (a blank page has one or two). */
async function screenshot(name: string): Promise<string> {
  const path = join(SCREENSHOTS, `${name}.png`);
  const png = await page.screenshot({ path, fullPage: true });
  const probe = await browser.newPage();
  // Run in the browser, as text: the test's tsconfig has no DOM library.
  const colours = (await probe.evaluate(`(async () => {
    const img = new Image();
    img.src = "data:image/png;base64,${Buffer.from(png).toString("base64")}";
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, img.width, img.height).data;
    const seen = new Set();
    for (let i = 0; i < data.length; i += 16) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return { distinct: seen.size, width: img.width, height: img.height };
  })()`)) as { distinct: number; width: number; height: number };
  await probe.close();
  expect(colours.width).toBeGreaterThan(300);
  expect(colours.distinct).toBeGreaterThan(20);
  return path;
}

describe("the admin page in chromium", () => {
  test("a wrong token is refused and shows no page", async () => {
    await page.goto(`${admin}/`);
    expect(page.url()).toBe(`${admin}/login`);
    await page.type("#token", "not-the-admin-token-at-all");
    const [res] = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    expect(res!.status()).toBe(401);
    expect(await text()).toContain("Wrong token.");
    await page.goto(`${admin}/jobs`);
    expect(page.url()).toBe(`${admin}/login`);
    await screenshot("wrong-token");
  }, 30_000);

  test("signs in with the token and sees the hook with its Kratos point, mode, auth and action", async () => {
    await page.goto(`${admin}/login`);
    await page.type("#token", TOKEN);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    expect(page.url()).toBe(`${admin}/`);
    const row = await page.$eval('tr[data-hook="welcome"]', (r) => (r as unknown as Text).innerText);
    expect(row).toContain("registration.after");
    expect(row).toContain("notify");
    expect(row).toContain("api_key (header X-Secret)");
    expect(row).toContain("welcome.crm");
    const cookies = await browser.cookies();
    expect(cookies.find((c) => c.name === "kh_admin")).toMatchObject({ httpOnly: true, sameSite: "Strict" });
  }, 30_000);

  test("a pushed webhook shows under Webhooks and its job is watched until delivered", async () => {
    sinkStatus = 204;
    await pushWebhook("trigger-ok-1");
    await page.goto(`${admin}/webhooks?q=trigger-ok-1`);
    expect(await text()).toContain("trigger-ok-1");
    expect(await text()).toContain("accepted");
    await Promise.all([page.waitForNavigation(), page.click("a[href*='trigger_id=trigger-ok-1']")]);
    const rowState = () => page.$$eval("tr[data-job] .state", (els) => els.map((e) => (e as unknown as Text).innerText));
    await watch(page.url(), async () => (await rowState()).join() === "done", "the job to be delivered");
    expect(await page.$$eval("tr[data-job]", (rows) => rows.length)).toBe(1);
    await page.goto(`${admin}/`);
    expect(await page.$eval('a.count[data-state="done"] b', (b) => (b as unknown as Text).innerText)).toBe("1");
    await screenshot("overview");
  }, 30_000);

  test("a failing sink makes a dead letter with its attempts, shown escaped; retried from the page it is delivered", async () => {
    sinkStatus = 500;
    await pushWebhook("trigger-fail-1", HOSTILE_NAME);
    await watch(`${admin}/jobs?state=dead`, async () => (await page.$$("tr[data-job]")).length === 1, "the dead letter");
    await Promise.all([page.waitForNavigation(), page.click("tr[data-job] a")]);
    const attempts = await page.$$eval("tr[data-attempt]", (rows) => rows.map((r) => (r as unknown as Text).innerText));
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toMatch(/#1.*retry\s+500.*answered 500: crm is down/s);
    expect(attempts[1]).toMatch(/#2.*dead\s+500/s);
    // The hostile trait is shown as text; nothing of it ran or became an element.
    expect(await page.$eval("pre", (p) => (p as unknown as Text).innerText)).toContain(JSON.stringify(HOSTILE_NAME));
    expect(await page.title()).not.toContain("pwned");
    expect(await page.$$eval("main img, main script", (els) => els.length)).toBe(0);
    await screenshot("dead-letter");
    await page.setViewport({ width: 390, height: 844, isMobile: true });
    await screenshot("dead-letter-phone");
    await page.setViewport({ width: 1280, height: 900 });

    sinkStatus = 204;
    await Promise.all([page.waitForNavigation(), page.click("form[action$='/retry'] button")]);
    expect(await text()).toContain("The job is pending again");
    await watch(page.url().replace(/\?.*$/, ""), async () => (await page.$$("tr[data-attempt]")).length === 3, "the retried delivery");
    const after = await page.$$eval("tr[data-attempt]", (rows) => rows.map((r) => (r as unknown as Text).innerText));
    expect(after[2]).toMatch(/#3.*delivered\s+204/s);
    expect(await text()).toContain("since the last retry; 3 in total");
    expect(await text()).not.toContain("Last error");
    await screenshot("retried");
  }, 30_000);
});
