// Prints a hooks.yaml with N notify hooks spread over every hook point, for bench/cold-start.ts.
const n = Number(process.argv[2] ?? 1000);
const points = [
  ["registration.after", ["password", "oidc"]],
  ["login.after", ["password"]],
  ["settings.after", ["profile"]],
  ["recovery.after", []],
  ["verification.after", []],
] as const;
const lines = [
  "kratos:",
  "  version: v26.2.0",
  "  builtin_hooks:",
  "    registration.after.password: [session]",
  "    registration.after.oidc: [session]",
  "receiver:",
  "  url: http://127.0.0.1:4459",
  "hooks:",
];
for (let i = 0; i < n; i++) {
  const [on, methods] = points[i % points.length]!;
  lines.push(`  hook-${i}:`, `    on: ${on}`);
  if (methods.length) lines.push(`    methods: [${methods.join(", ")}]`);
  lines.push(
    "    auth: { type: api_key, in: header, name: Authorization, value_prefix: \"Bearer \", secret_env: KRATOS_HOOKS_SECRET }",
    "    body:",
    "      identity_id: identity.id",
    "      email: { from: identity.traits.email, format: email }",
    "    actions:",
    "      - http: { url: \"http://127.0.0.1:4460/x\", body: { email: \"{{body.email}}\" } }",
  );
}
console.log(lines.join("\n"));
