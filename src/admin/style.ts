// The admin page's only asset, embedded in the binary: no build step, no external fonts or
// scripts, so it works offline and under a CSP of `default-src 'none'`. Narrow screens get
// stacked navigation and tables that scroll sideways inside their card.
export const ADMIN_CSS = `
:root { --fg:#1d2330; --muted:#5f6b7a; --line:#dde2ea; --bg:#f5f7fa; --card:#fff; --accent:#2f5bd3;
  --ok:#17803d; --warn:#a15c00; --bad:#b42318; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font-size:15px; line-height:1.45; }
header { background:#1d2330; color:#fff; display:flex; flex-wrap:wrap; align-items:center; gap:.25rem 1rem; padding:.6rem 1rem; }
header .brand { font-weight:600; margin-right:.5rem; }
header nav { display:flex; flex-wrap:wrap; gap:.25rem; }
header nav a { color:#c9d3e6; text-decoration:none; padding:.3rem .6rem; border-radius:6px; }
header nav a.on, header nav a:hover { background:#33405a; color:#fff; }
header form { margin-left:auto; }
main { max-width:1200px; margin:0 auto; padding:1rem; }
h1 { font-size:1.3rem; margin:.2rem 0 1rem; }
h2 { font-size:1.05rem; margin:1.2rem 0 .5rem; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:.8rem; margin-bottom:1rem; overflow-x:auto; }
.counts { display:grid; grid-template-columns:repeat(auto-fit, minmax(130px, 1fr)); gap:.6rem; margin-bottom:1rem; }
.count { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:.6rem .8rem; text-decoration:none; color:inherit; display:block; }
.count b { display:block; font-size:1.5rem; }
.count span { color:var(--muted); }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:.4rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:500; font-size:.85rem; white-space:nowrap; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:.85rem; word-break:break-all; }
.mono.time { word-break:normal; white-space:nowrap; }
pre { background:#f0f2f6; padding:.6rem; border-radius:8px; overflow-x:auto; font-size:.8rem; white-space:pre-wrap; word-break:break-all; }
.state { display:inline-block; padding:.05rem .45rem; border-radius:99px; font-size:.8rem; border:1px solid var(--line); }
.state.done, .state.delivered, .state.accepted, .state.enriched { color:var(--ok); border-color:#b7e1c4; background:#effaf2; }
.state.dead, .state.error { color:var(--bad); border-color:#f3c1bc; background:#fef2f1; }
.state.retry, .state.pending, .state.running, .state.denied, .state.duplicate { color:var(--warn); border-color:#f1d5a8; background:#fff8ec; }
.muted { color:var(--muted); }
.tabs { display:flex; flex-wrap:wrap; gap:.4rem; margin-bottom:.8rem; }
.tabs a { text-decoration:none; color:var(--fg); border:1px solid var(--line); background:var(--card); border-radius:99px; padding:.2rem .7rem; }
.tabs a.on { background:var(--accent); color:#fff; border-color:var(--accent); }
form.inline { display:inline; }
button, input[type=submit] { font:inherit; border:1px solid var(--accent); background:var(--accent); color:#fff; border-radius:6px; padding:.3rem .8rem; cursor:pointer; }
button.quiet { background:#fff; color:var(--accent); }
button.danger { background:#fff; color:var(--bad); border-color:var(--bad); }
input[type=text], input[type=password], input[type=search], select { font:inherit; padding:.35rem .5rem; border:1px solid var(--line); border-radius:6px; max-width:100%; }
.search { display:flex; flex-wrap:wrap; gap:.5rem; align-items:center; margin-bottom:.8rem; }
.flash { background:#eef3ff; border:1px solid #c9d6fb; padding:.5rem .8rem; border-radius:8px; margin-bottom:1rem; }
.error-box { background:#fef2f1; border:1px solid #f3c1bc; color:var(--bad); padding:.5rem .8rem; border-radius:8px; margin-bottom:1rem; }
.login { max-width:380px; margin:12vh auto; }
.login input[type=password] { width:100%; margin:.5rem 0 1rem; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:.3rem 1rem; margin:0; }
dl.facts dt { color:var(--muted); }
dl.facts dd { margin:0; word-break:break-all; }
/* An attempt's response or error keeps a readable width: a narrow screen scrolls the card sideways instead of wrapping it a few letters a line. */
td.detail { min-width:16rem; }
@media (max-width: 640px) {
  body { font-size:14px; }
  main { padding:.6rem; }
  header form { margin-left:0; }
  th, td { padding:.35rem .35rem; }
  .hide-narrow { display:none; }
}
`;
