import type { Context } from 'hono';

/**
 * The dashboard's only stylesheet and script, served from routes so the CSP can stay
 * `'self'` with no inline code. The script is progressive: every form works without it.
 */

export const ASSET_VERSION = '3';

export const STYLESHEET = `
:root{--bg:#f6f7f9;--panel:#fff;--ink:#1c2430;--muted:#5d6b7c;--line:#dde2e8;--accent:#2f5fd0;--accent-ink:#fff;
--on:#16794c;--on-bg:#e3f4ec;--off:#8a3b12;--off-bg:#fbeee6;--danger:#b42318;--danger-bg:#fdecea;--warn-bg:#fff6da;
--radius:6px;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:15px;line-height:1.45;color:var(--ink);background:var(--bg)}
*{box-sizing:border-box}body{margin:0}
a{color:var(--accent)}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid #8fb0ff;outline-offset:1px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:6px;z-index:9}
.top{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:center;padding:10px 20px;background:#17202c;color:#e8edf3}
.top a{color:#e8edf3;text-decoration:none}.brand{font-weight:700;font-size:17px}
.top nav{display:flex;flex-wrap:wrap;gap:4px}.top nav a{padding:5px 10px;border-radius:var(--radius)}
.top nav a:hover{background:#2a3544}.top nav a[aria-current=page]{background:#34425a;font-weight:600}
.who{margin-left:auto;display:flex;gap:12px;align-items:center;font-size:13px;color:#b8c3d1}.who form{margin:0}
.who .link{color:#e8edf3}.role{text-transform:capitalize}
main{max-width:1180px;margin:0 auto;padding:20px}
h1{font-size:22px;margin:4px 0 14px}h2{font-size:17px;margin:0 0 10px}h3{font-size:15px;margin:12px 0 6px}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:var(--radius);padding:16px;margin-bottom:16px}
.narrow{max-width:460px;margin:40px auto}
.flash{background:var(--on-bg);border:1px solid #b6e2cb;padding:8px 12px;border-radius:var(--radius)}
.banner{padding:8px 12px;border-radius:var(--radius);margin-bottom:12px;border:1px solid}
.banner p{margin:2px 0}.banner.error{background:var(--danger-bg);border-color:#f3b8b2}.banner.conflict{background:var(--warn-bg);border-color:#ecd58a}
.muted,.hint{color:var(--muted)}.hint{display:block;font-size:12px}
.error-text{color:var(--danger);display:block;font-size:13px;font-weight:600}
form{margin:0}.row{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end}
.field{display:flex;flex-direction:column;gap:3px;margin-bottom:10px;min-width:0}
.row .field{margin-bottom:0}
label{font-weight:600;font-size:13px}
input,select,textarea{font:inherit;padding:6px 8px;border:1px solid #b9c2cd;border-radius:var(--radius);background:#fff;color:var(--ink);max-width:100%}
textarea{width:100%;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
.field.invalid input,.field.invalid select,.field.invalid textarea,[aria-invalid=true]{border-color:var(--danger);background:#fffafa}
button,.button{font:inherit;font-weight:600;padding:6px 12px;border-radius:var(--radius);border:1px solid var(--accent);background:var(--accent);color:var(--accent-ink);cursor:pointer;text-decoration:none;display:inline-block}
button.secondary,.button.secondary{background:#fff;color:var(--accent)}
button.danger{background:var(--danger);border-color:var(--danger)}
button.link{background:none;border:none;padding:0;color:var(--accent);text-decoration:underline;font-weight:400}
button.small{padding:2px 8px;font-size:13px}button[aria-pressed=true]{box-shadow:inset 0 0 0 2px #17202c}
button:disabled{opacity:.6;cursor:progress}
.plain{border:0;padding:0;margin:0;min-width:0}.plain>legend{padding:0;margin-bottom:8px;font-size:13px}
.check{display:flex;gap:6px;align-items:center;font-weight:400}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.table-wrap{overflow-x:auto}
.key{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-weight:600;overflow-wrap:anywhere}
.desc{display:block;color:var(--muted);font-size:13px}
.val{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px;padding:1px 6px;border-radius:4px;background:#eef1f5;overflow-wrap:anywhere}
.val.on{background:var(--on-bg);color:var(--on);font-weight:600}.val.off{background:var(--off-bg);color:var(--off);font-weight:600}.val.none{background:none;color:var(--muted)}
.badge,.src,.tag{display:inline-block;font-size:12px;padding:1px 7px;border-radius:10px;background:#eef1f5;margin:1px 2px 1px 0}
.badge.killed{background:var(--danger);color:#fff;font-weight:700}.badge.archived{background:#d9dde3}
.badge.stale{background:#fff0d6;color:#7a4b00}
.src-user{background:#f1e7fd;color:#5b2a9a}.src-platform{background:#e2f0fe;color:#1f5b9a}.src-org{background:#fff0d6;color:#7a4b00}.src-system{background:#eef1f5}.src-killed{background:var(--danger-bg);color:var(--danger)}
progress{width:70px;height:10px;vertical-align:middle}
.counts{font-size:13px;white-space:nowrap}.counts b{font-weight:600}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
.cards{display:flex;flex-direction:column;gap:10px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:var(--radius);padding:12px}
.card-head{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center}
.card-head .grow{flex:1 1 240px;min-width:0}
.toggle{display:flex;gap:4px;flex-wrap:wrap}
details>summary{cursor:pointer;color:var(--accent);margin-top:8px}
.platforms{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:8px;margin-top:8px}
.platform{border:1px solid var(--line);border-radius:var(--radius);padding:8px}
.diff{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px;margin:0;padding:0;list-style:none}
.diff del{background:var(--danger-bg);color:var(--danger);text-decoration:line-through}.diff ins{background:var(--on-bg);color:var(--on);text-decoration:none}
.empty{padding:20px;text-align:center;color:var(--muted)}
.state{display:inline-block;font-size:12px;padding:1px 7px;border-radius:10px;background:#eef1f5;font-weight:600}.state-pending,.state-running{background:#e2f0fe;color:#1f5b9a}.state-applied,.state-done,.state-delivered{background:var(--on-bg);color:var(--on)}.state-failed,.state-aborted{background:var(--danger-bg);color:var(--danger)}.state-paused{background:var(--warn-bg);color:#7a4b00}
ol.steps{margin:8px 0 0;padding-left:22px;font-size:13px}
.pending{color:var(--danger);font-weight:700}.ok{color:var(--on);font-weight:600}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
@media (max-width:640px){main{padding:10px}.who{margin-left:0}th.opt,td.opt{display:none}.panel{padding:12px}
table.stack thead{display:none}table.stack tr{display:block;border-bottom:1px solid var(--line);padding:6px 0}table.stack td{display:block;border:none;padding:3px 4px}}
`;

export const SCRIPT = `
(function () {
  'use strict';
  // Confirmation for destructive forms: <form data-confirm="...">.
  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    // One submission per click: the button stays disabled until the next page.
    var buttons = form.querySelectorAll('button[type=submit]');
    window.setTimeout(function () { buttons.forEach(function (b) { b.disabled = true; }); }, 0);
  });
  // Filters apply as soon as a select changes: <select data-autosubmit>.
  document.addEventListener('change', function (event) {
    var el = event.target;
    if (el instanceof HTMLSelectElement && el.hasAttribute('data-autosubmit') && el.form) el.form.requestSubmit();
  });
})();
`;

function asset(c: Context, body: string, type: string): Response {
  c.header('Content-Type', type);
  c.header('Cache-Control', 'public, max-age=3600');
  return c.body(body);
}

export const serveStylesheet = (c: Context) => asset(c, STYLESHEET, 'text/css; charset=utf-8');
export const serveScript = (c: Context) => asset(c, SCRIPT, 'text/javascript; charset=utf-8');
