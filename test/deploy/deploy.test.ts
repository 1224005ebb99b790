// Each deploy/ artefact, tested as far as this machine allows: compose.yaml against the Compose
// specification's JSON schema (vendored, Apache-2.0) and against hooks.yaml/kratos.yml; the systemd
// unit with `systemd-analyze verify`; the Containerfile and the CI jobs by their content.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../../src/config/load.ts";
import { durationMs } from "../../src/config/units.ts";
import pkg from "../../package.json" with { type: "json" };

const REPO = join(import.meta.dir, "../..");
const DEPLOY = join(REPO, "deploy");
const read = (p: string) => readFileSync(join(DEPLOY, p), "utf8");
function cli(args: string[], env: Record<string, string> = {}) {
  const r = Bun.spawnSync(["bun", join(REPO, "src/cli.ts"), ...args], { cwd: REPO, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", ...env } });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

describe("deploy/compose/compose.yaml", () => {
  const compose = parseYaml(read("compose/compose.yaml")) as { services: Record<string, any> };
  const hooks = loadConfig(join(DEPLOY, "compose/hooks.yaml"), { env: {} });

  test("is valid against the Compose specification's JSON schema", () => {
    const spec = JSON.parse(read("vendor/compose-spec.json"));
    delete spec.$schema; // draft-07, which ajv speaks by default
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(spec);
    expect(validate(compose) ? [] : validate.errors).toEqual([]);
    // and the schema does reject a mistake
    expect(validate({ services: { a: { image: "x", restart_policy: "always" } } })).toBe(false);
    expect(read("vendor/LICENSE.compose-spec")).toContain("Apache License");
  });

  test("runs Kratos, kratos-hooks, Postgres and a mail catcher, every start gated on health", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["kratos", "kratos-hooks", "kratos-migrate", "mailpit", "postgres"]);
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [dep, cond] of Object.entries((s.depends_on ?? {}) as Record<string, { condition: string }>)) {
        expect(`${name} → ${dep}: ${cond.condition}`).toBe(`${name} → ${dep}: ${compose.services[dep].healthcheck ? "service_healthy" : "service_completed_successfully"}`);
      }
    }
    expect(compose.services.kratos.depends_on["kratos-hooks"].condition).toBe("service_healthy");
    expect(compose.services["kratos-hooks"].healthcheck.test.join(" ")).toContain("/health/ready");
  });

  test("the bodies are mounted where kratos.yml expects them, and the env file is wired", () => {
    const kratos = compose.services.kratos;
    const fileDir = hooks.kratos.body.kind === "file" ? hooks.kratos.body.dir : "";
    expect(kratos.volumes).toContain(`./generated:${fileDir}:ro`);
    expect(kratos.command).toContain(`-c ${fileDir}/kratos-hooks.kratos.yml`);
    expect(kratos.env_file).toContain("./generated/kratos-hooks.env");
    // The env file names KRATOS_HOOKS_SECRET by reference; Compose must be able to expand it for Kratos.
    expect(read("compose/generated/kratos-hooks.env")).toContain("${KRATOS_HOOKS_SECRET}");
    expect(kratos.environment.KRATOS_HOOKS_SECRET).toContain("KRATOS_HOOKS_SECRET");
    expect(compose.services["kratos-hooks"].env_file).toContain(".env");
    expect(read("compose/.env.example")).toContain("KRATOS_HOOKS_SECRET=");
  });

  test("serve listens on 0.0.0.0 in the network, at the host and port receiver.url names", () => {
    expect(compose.services["kratos-hooks"].environment.KRATOS_HOOKS_LISTEN).toBe("0.0.0.0:4459");
    expect(hooks.serve.listen).toEqual({ host: "0.0.0.0", port: 4459 });
    expect(new URL(hooks.receiverUrl).host).toBe("kratos-hooks:4459");
    expect(compose.services["kratos-hooks"].volumes).toContain("./hooks.yaml:/etc/kratos-hooks/hooks.yaml:ro");
  });

  test("generated/ is current, and kratos.yml with it passes Kratos's schema and the private-IP guard", () => {
    const gen = cli(["generate", "--config", "deploy/compose/hooks.yaml", "--out", "deploy/compose/generated", "--check"]);
    expect(gen.err).toBe("");
    expect(gen.code).toBe(0);
    const check = cli(["check", "--config", "deploy/compose/hooks.yaml", "--kratos-config", "deploy/compose/kratos/kratos.yml"], { DSN: "postgres://x", SECRETS_COOKIE: "x", SECRETS_CIPHER: "x", KRATOS_HOOKS_SECRET: "x" });
    expect(check.err).toBe("");
    expect(check.code).toBe(0);
  });
});

describe("deploy/Containerfile", () => {
  const text = read("Containerfile");
  const from = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  test("multi-stage: compiles the binary with the project's own build command", () => {
    expect(from.length).toBe(2);
    const build = pkg.scripts.build.replace("--outfile dist/kratos-hooks", "--outfile /out/kratos-hooks");
    expect(text).toContain(`RUN ${build}\n`);
    expect(text).toContain("COPY --from=build /out/kratos-hooks /usr/local/bin/kratos-hooks");
  });
  test("runs non-root on a slim base, health-checks /health/ready, keeps SQLite on a volume, no secret inside", () => {
    expect(from[1]).toMatch(/slim/);
    expect(/^USER (\d+)/m.exec(text)?.[1]).not.toBe("0");
    expect(text).toMatch(/^HEALTHCHECK .*\n?.*\/health\/ready/m);
    expect(text).toContain('VOLUME ["/var/lib/kratos-hooks"]');
    expect(text).toContain("KRATOS_HOOKS_STORE=sqlite:/var/lib/kratos-hooks/");
    expect(text).not.toMatch(/SECRET=|PASSWORD=|TOKEN=/);
  });
});

describe("deploy/systemd/kratos-hooks.service", () => {
  const unit = read("systemd/kratos-hooks.service");
  const key = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(unit)?.[1];

  test("hardened: a dynamic user, StateDirectory, ProtectSystem=strict, NoNewPrivileges, secrets from an EnvironmentFile", () => {
    expect(key("DynamicUser")).toBe("yes");
    expect(key("StateDirectory")).toBe("kratos-hooks");
    expect(key("ProtectSystem")).toBe("strict");
    expect(key("NoNewPrivileges")).toBe("yes");
    expect(key("EnvironmentFile")).toBe("/etc/kratos-hooks/secrets.env");
    expect(key("Environment")).toBe("KRATOS_HOOKS_STORE=sqlite:/var/lib/kratos-hooks/kratos-hooks.db");
  });

  test("TimeoutStopSec outlasts serve's shutdown_timeout", () => {
    const stop = Number(key("TimeoutStopSec")) * 1000;
    const config = loadConfig(join(REPO, "config/hooks.yaml"), { env: {} });
    expect(stop).toBeGreaterThan(config.serve.shutdownTimeoutMs);
    expect(stop).toBeGreaterThanOrEqual(durationMs("10s") + 5000);
  });

  test("systemd-analyze verify accepts it (and rejects a broken copy)", () => {
    const which = Bun.spawnSync(["sh", "-c", "command -v systemd-analyze"]);
    if (which.exitCode !== 0) {
      console.warn("systemd-analyze is not installed (apt-get install systemd): the unit was not verified");
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), "kh-unit-"));
    // verify checks that ExecStart's binary exists: point it at one that does.
    const verify = (text: string) => {
      writeFileSync(join(dir, "kratos-hooks.service"), text.replace("/usr/local/bin/kratos-hooks serve", `${process.execPath} serve`));
      const r = Bun.spawnSync(["systemd-analyze", "verify", join(dir, "kratos-hooks.service")]);
      return { code: r.exitCode, err: r.stderr.toString() };
    };
    const ok = verify(unit);
    expect(ok.err).not.toContain("kratos-hooks.service");
    expect(ok.code).toBe(0);
    const broken = verify(unit.replace("ProtectSystem=strict", "ProtectSystem=strictest"));
    expect(broken.err).toContain("Failed to parse protect system value");
  });
});

describe("deploy/ci: jobs that run generate --check", () => {
  test("GitHub Actions", () => {
    const wf = parseYaml(read("ci/github-actions.yml")) as any;
    expect(Object.keys(wf.on)).toContain("pull_request");
    const job = wf.jobs["kratos-hooks-generate"];
    expect(job["runs-on"]).toBe("ubuntu-latest");
    const runs = (job.steps as any[]).map((s) => s.run ?? "").join("\n");
    expect(runs).toMatch(/kratos-hooks generate --config \S+ --out \S+ --check/);
    expect(runs).toContain("--kratos-config");
  });
  test("GitLab CI", () => {
    const ci = parseYaml(read("ci/gitlab-ci.yml")) as any;
    const job = ci["kratos-hooks-generate"];
    expect(job.stage).toBe("test");
    expect((job.script as string[]).join("\n")).toMatch(/kratos-hooks generate --config \S+ --out \S+ --check/);
  });
});

describe("deploy/kubernetes: values for Ory's Kratos Helm chart (generate --helm-values)", () => {
  const chart = parseYaml(readFileSync(join(REPO, "test/fixtures/helm/kratos-chart-values.yaml"), "utf8")) as any;
  const text = read("kubernetes/kratos-hooks.values.yaml");
  const values = parseYaml(text) as any;

  test("is current: generate --check over the compose example writes the same values", () => {
    const r = cli(["generate", "--config", "deploy/compose/hooks.yaml", "--out", "deploy/compose/generated", "--helm-values", "deploy/kubernetes/kratos-hooks.values.yaml", "--check"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
  });

  test("sets only keys the chart has, with the chart's types", () => {
    const walk = (ours: any, theirs: any, path: string): string[] => {
      if (theirs === undefined) return [`${path}: not in the chart's values`];
      if (Array.isArray(ours) !== Array.isArray(theirs) || typeof ours !== typeof theirs) return [`${path}: the chart has ${Array.isArray(theirs) ? "a list" : typeof theirs}`];
      // Below kratos.config is Kratos's own config, which the chart passes through.
      if (path === "kratos.config" || Array.isArray(ours) || typeof ours !== "object" || ours === null) return [];
      return Object.keys(ours).flatMap((k) => walk(ours[k], theirs[k], path ? `${path}.${k}` : k));
    };
    expect(walk(values, chart, "")).toEqual([]);
    expect(Object.keys(values).sort()).toEqual(["deployment", "kratos"]);
  });

  test("the chart's kratos.config with these values merged in is valid for the chart's Kratos version", async () => {
    const { kratosValidator, mergeKratosConfigs, MINIMAL_KRATOS_CONFIG } = await import("../../src/kratos/kratos-schema.ts");
    expect(chart.image.tag).toBe("v26.2.0");
    const merged = mergeKratosConfigs(mergeKratosConfigs(MINIMAL_KRATOS_CONFIG, chart.kratos.config), values.kratos.config);
    expect((await kratosValidator("v26.2.0")).validate(merged)).toEqual([]);
    // Bodies are inline: nothing to mount into the chart's pods.
    const bodies = [...text.matchAll(/body: (\S+)/g)].map((m) => m[1]!);
    expect(bodies.length).toBeGreaterThan(0);
    for (const b of bodies) expect(b).toStartWith("base64://");
  });

  test("secrets: secretKeyRef, then $(VAR) references Kubernetes expands; never ${VAR}, never a value", () => {
    const env = values.deployment.extraEnv as Array<{ name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }>;
    const defined = new Set<string>();
    for (const e of env) {
      expect(Object.keys(e).sort()).toEqual(e.value !== undefined ? ["name", "value"] : ["name", "valueFrom"]);
      if (e.valueFrom) expect(e.valueFrom.secretKeyRef).toEqual({ name: "kratos-hooks", key: e.name });
      for (const m of (e.value ?? "").matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) expect(defined.has(m[1]!)).toBe(true);
      defined.add(e.name);
    }
    expect(env.find((e) => e.name.endsWith("_CONFIG_AUTH_CONFIG_VALUE"))?.value).toBe("Bearer $(KRATOS_HOOKS_SECRET)");
    expect(text).not.toContain("${");
    expect(text).toContain("value: set-by-env");
  });
});

test("helm values: a literal $ in value_prefix is written $$, so Kubernetes keeps it", async () => {
  const { helmValues } = await import("../../src/kratos/helm-values.ts");
  const { config, hook } = await import("../generate/helpers.ts");
  const cfg = config("v26.2.0", [hook("a", "login.after", { auth: { type: "api_key", in: "header", name: "X-Key", value_prefix: "k$(x) ", secret_env: "HOOK_SECRET" } })]);
  const { values } = helmValues(cfg, new Map([["a", "function(ctx) {}\n"]]));
  const env = (values.deployment as { extraEnv: Array<{ name: string; value?: string }> }).extraEnv;
  expect(env.map((e) => e.value ?? "(secretKeyRef)")).toEqual(["(secretKeyRef)", "k$$(x) $(HOOK_SECRET)"]);
});

describe("deploy/kubernetes/kratos-hooks.yaml: the receiver's own manifests", () => {
  const docs = read("kubernetes/kratos-hooks.yaml")
    .split(/^---$/m)
    .map((d) => parseYaml(d) as any);
  const byKind = (k: string) => docs.find((d) => d.kind === k);
  const hooks = loadConfig(join(DEPLOY, "compose/hooks.yaml"), { env: {} });

  test("a Service named and numbered as receiver.url says, in front of the Deployment's port", () => {
    const svc = byKind("Service");
    const url = new URL(hooks.receiverUrl);
    expect(`${svc.metadata.name}:${svc.spec.ports[0].port}`).toBe(url.host);
    const pod = byKind("Deployment").spec.template;
    expect(svc.spec.selector).toEqual(pod.metadata.labels);
    expect(pod.spec.containers[0].ports[0]).toEqual({ name: svc.spec.ports[0].targetPort, containerPort: 4459 });
  });

  test("non-root, probes on /health/*, secret from a Secret, SQLite on a volume, grace outlasting shutdown_timeout", () => {
    const pod = byKind("Deployment").spec.template.spec;
    const c = pod.containers[0];
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.readinessProbe.httpGet.path).toBe("/health/ready");
    expect(c.livenessProbe.httpGet.path).toBe("/health/live");
    const env = Object.fromEntries((c.env as any[]).map((e) => [e.name, e]));
    expect(env.KRATOS_HOOKS_LISTEN.value).toBe("0.0.0.0:4459");
    expect(env.KRATOS_HOOKS_SECRET.valueFrom.secretKeyRef).toEqual({ name: "kratos-hooks", key: "KRATOS_HOOKS_SECRET" });
    const store = String(env.KRATOS_HOOKS_STORE.value).replace(/^sqlite:/, "");
    expect((c.volumeMounts as any[]).some((m) => store.startsWith(`${m.mountPath}/`) && !m.readOnly)).toBe(true);
    expect(byKind("Deployment").spec.strategy.type).toBe("Recreate");
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(hooks.serve.shutdownTimeoutMs);
    expect(byKind("PersistentVolumeClaim").metadata.name).toBe(pod.volumes.find((v: any) => v.persistentVolumeClaim).persistentVolumeClaim.claimName);
  });
});
