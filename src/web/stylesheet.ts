import type Router from '@koa/router';

export const STYLESHEET_PATH = '/static/site.css';

// One small stylesheet served from here: no build step, no inline styles (the CSP allows 'self' only).
// Readable on a phone: one column, wide tables scroll inside their own box.
const CSS = `
:root { --fg: #1d2327; --muted: #50575e; --line: #c3c4c7; --accent: #0b5cad; --danger: #b32d2e; --bg: #fff; --soft: #f3f4f5; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
a:focus, button:focus, input:focus, select:focus, textarea:focus { outline: 3px solid #f0b849; outline-offset: 1px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; }
header { background: var(--soft); border-bottom: 1px solid var(--line); padding: 8px 16px; display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: center; }
header .site { margin: 0; font-weight: 600; }
header .site a { color: var(--fg); text-decoration: none; }
nav { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; flex: 1; }
nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 16px; }
nav a[aria-current="page"] { font-weight: 600; text-decoration: none; color: var(--fg); }
nav .logout { margin-left: auto; }
main { max-width: 72rem; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.6rem; margin: 8px 0 16px; }
h2 { font-size: 1.25rem; margin: 24px 0 8px; }
.flash { background: #edfaef; border-left: 4px solid #00a32a; padding: 8px 12px; }
.error { background: #fcf0f1; border-left: 4px solid var(--danger); padding: 8px 12px; }
.muted { color: var(--muted); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); }
tr.highlight td { background: #fff8e5; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
form.inline { display: inline; }
form.stacked { display: grid; gap: 12px; max-width: 32rem; }
form.filters { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: end; margin-bottom: 16px; }
label { display: block; font-weight: 600; }
input[type=text], input[type=password], input[type=url], input[type=number], select, textarea { font: inherit; padding: 6px 8px; border: 1px solid var(--line); border-radius: 4px; width: 100%; max-width: 32rem; }
fieldset { border: 1px solid var(--line); border-radius: 4px; }
button { font: inherit; padding: 6px 14px; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; }
button.danger { background: var(--danger); border-color: var(--danger); }
pre { background: var(--soft); padding: 8px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.post { border-bottom: 1px solid var(--line); padding: 8px 0 16px; }
.post img { max-width: 100%; height: auto; }
progress { width: 10rem; }
`;

export function mountStylesheet(router: Router): void {
  router.get(STYLESHEET_PATH, (ctx) => {
    ctx.type = 'text/css; charset=utf-8';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = CSS;
  });
}
