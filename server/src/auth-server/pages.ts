import type { ClientRegistration } from './client-registration.js';
import type { PatientSummary } from './patient-directory.js';
import { parseResourceScope } from './scope-grant.js';

/**
 * The authorization server's few server-rendered pages: sign in, approve, error. Plain HTML
 * forms (no script), every interpolated value escaped.
 */

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Custodian</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
h1{font-size:1.4rem} .app{font-weight:600} .error{color:#a40e26;background:#fdecee;padding:.5rem .75rem;border-radius:4px}
label{display:block;margin:.6rem 0 .2rem} input[type=text],input[type=password],select{width:100%;padding:.4rem;box-sizing:border-box}
ul.scopes li{margin:.2rem 0} fieldset{border:1px solid #ccd;border-radius:4px;margin:1rem 0;max-height:18rem;overflow:auto}
button{padding:.5rem 1.2rem;margin:1rem .5rem 0 0} code{font-size:.85em;color:#556}
</style></head>
<body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>
`;
}

function hidden(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('\n');
}

export interface FormIds {
  readonly tx: string;
  readonly csrf: string;
}

export function loginPage(client: ClientRegistration, ids: FormIds, action: string, error?: string): string {
  return layout(
    'Sign in',
    `<p><span class="app">${escapeHtml(client.name)}</span> asks to access health records on this server. Sign in to continue.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">
${hidden({ tx: ids.tx, csrf: ids.csrf })}
<label for="username">User name</label><input type="text" id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`,
  );
}

export interface ApprovalView {
  readonly client: ClientRegistration;
  readonly userName: string;
  readonly scopes: readonly string[];
  readonly purposes: readonly string[];
  readonly defaultPurpose?: string;
  /** Shown as a picker when the user must choose the launch patient. */
  readonly patients?: readonly PatientSummary[];
  /** The patient the launch is fixed to (a patient user's own record). */
  readonly fixedPatient?: PatientSummary;
  readonly error?: string;
}

export function approvalPage(view: ApprovalView, ids: FormIds, action: string): string {
  const scopeItems = view.scopes.map((s) => `<li>${escapeHtml(describeScope(s))} <code>${escapeHtml(s)}</code></li>`).join('\n');
  const picker =
    view.patients === undefined
      ? ''
      : view.patients.length === 0
        ? '<p class="error">There are no patients on this server to choose from.</p>'
        : `<fieldset><legend>Patient</legend>
${view.patients
  .map(
    (p, i) =>
      `<label><input type="radio" name="patient" value="${escapeHtml(p.id)}"${i === 0 ? ' required' : ''}> ${escapeHtml(p.name)}${p.birthDate ? `, born ${escapeHtml(p.birthDate)}` : ''}${p.identifier ? ` <code>${escapeHtml(p.identifier)}</code>` : ''}</label>`,
  )
  .join('\n')}
</fieldset>`;
  const fixed = view.fixedPatient ? `<p>Records of: <strong>${escapeHtml(view.fixedPatient.name)}</strong></p>` : '';
  const purpose =
    view.purposes.length > 1
      ? `<label for="purpose_of_use">Purpose</label><select id="purpose_of_use" name="purpose_of_use">${view.purposes
          .map((p) => `<option value="${escapeHtml(p)}"${p === view.defaultPurpose ? ' selected' : ''}>${escapeHtml(purposeLabel(p))}</option>`)
          .join('')}</select>`
      : `<p>Purpose: ${escapeHtml(purposeLabel(view.purposes[0] ?? ''))}</p>`;
  return layout(
    'Approve access',
    `<p>Signed in as <strong>${escapeHtml(view.userName)}</strong>.</p>
<p><span class="app">${escapeHtml(view.client.name)}</span> will be able to:</p>
<ul class="scopes">${scopeItems}</ul>
${view.error ? `<p class="error" role="alert">${escapeHtml(view.error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">
${hidden({ tx: ids.tx, csrf: ids.csrf })}
${fixed}${picker}
${purpose}
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</form>`,
  );
}

export function errorPage(message: string): string {
  return layout('Cannot continue', `<p class="error" role="alert">${escapeHtml(message)}</p><p>Return to the application and start again.</p>`);
}

/** Displays of the v3 PurposeOfUse codes apps are usually registered for. */
const PURPOSE_DISPLAY: Readonly<Record<string, string>> = {
  TREAT: 'treatment',
  ETREAT: 'emergency treatment',
  BTG: 'break the glass',
  COC: 'coordination of care',
  PATRQT: 'requested by the patient',
  FAMRQT: 'requested by family',
  HPAYMT: 'healthcare payment',
  HOPERAT: 'healthcare operations',
  HRESCH: 'healthcare research',
  PUBHLTH: 'public health',
};

function purposeLabel(code: string): string {
  const display = PURPOSE_DISPLAY[code];
  return display ? `${capitalise(display)} (${code})` : code;
}

const PERMISSION_WORDS: Record<string, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/** Plain words for a scope on the approval page. */
export function describeScope(scope: string): string {
  switch (scope) {
    case 'launch/patient':
      return 'Know which patient is selected';
    case 'fhirUser':
      return 'Know who you are';
    case 'offline_access':
      return 'Keep access after you sign out';
    case 'online_access':
      return 'Keep access while you stay signed in';
  }
  const r = parseResourceScope(scope);
  if (!r) return scope;
  const verbs = [...'cruds'].filter((p) => r.permissions.has(p)).map((p) => PERMISSION_WORDS[p]);
  const what = r.type === '*' ? 'records of every kind' : `${r.type} records`;
  const whose = r.context === 'patient' ? `the patient's ${what}` : r.context === 'user' ? `${what} you have access to` : `all ${what}`;
  return `${capitalise(verbs.join(', '))} ${whose}${r.query ? ` matching ${r.query}` : ''}`;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
