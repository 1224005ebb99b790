// Which runtime runs kratos-hooks. Bun is the default and the compiled binary; Deno 2 runs every
// command too (docs/deno.md). Code that needs a runtime's own API picks it once, at load, by this.
export const RUNTIME: "bun" | "deno" | "other" = process.versions.bun ? "bun" : "Deno" in globalThis ? "deno" : "other";
