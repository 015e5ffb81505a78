import './styles.css';
import { AccessLog } from './access-log';
import { loadConfig, sameOrigin, type ConsoleConfig } from './config';
import { ConsentGrid } from './consent-grid';
import { h, render } from './dom';
import { Fhir, type Json } from './fhir';
import { completeLaunch, currentSession, isCallback, signOut, startLaunch, type Mode, type Session } from './smart';
import { StewardView } from './steward';

/**
 * The console's entry: finishes a sign-in when the page is the OAuth redirect, then shows the
 * view the session was started for (patient or data steward), or the sign-in choices.
 */
const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('session') as HTMLElement;

async function boot(): Promise<void> {
  let config: ConsoleConfig;
  try {
    config = await loadConfig();
  } catch (err) {
    render(main, h('p', { class: 'error' }, `The console cannot start: ${(err as Error).message}`));
    return;
  }
  let session: Session | undefined;
  let problem: string | undefined;
  try {
    session = isCallback() ? await completeLaunch(config) : currentSession();
  } catch (err) {
    problem = (err as Error).message;
  }
  if (!session) {
    showSignIn(config, problem);
    return;
  }
  const fhir = new Fhir(config.fhirBaseUrl, session.accessToken, () => {
    signOut();
    showSignIn(config, 'Your session has ended; sign in again.');
  });
  showSession(config, session);
  try {
    if (session.mode === 'patient' && session.patient) await showPatient(fhir, session.patient);
    else await showSteward(fhir, config);
  } catch (err) {
    main.append(h('p', { class: 'error', role: 'alert' }, (err as Error).message));
  }
}

function showSignIn(config: ConsoleConfig, problem?: string): void {
  render(nav);
  const choice = (mode: Mode, title: string, text: string): HTMLElement =>
    h(
      'div',
      { class: 'choice' },
      h('h2', {}, title),
      h('p', {}, text),
      h(
        'button',
        {
          type: 'button',
          class: 'primary',
          id: `sign-in-${mode}`,
          onclick: () =>
            void startLaunch(config, mode).catch((err: Error) => {
              showSignIn(config, err.message);
            }),
        },
        mode === 'patient' ? 'Sign in as a patient' : 'Sign in as a data steward',
      ),
    );
  render(
    main,
    h('h1', {}, 'Custodian console'),
    problem ? h('p', { class: 'error', role: 'alert' }, problem) : null,
    h(
      'div',
      { class: 'choices' },
      choice('patient', 'My record', 'Choose who may see which part of your record, and see everyone who looked at it, with proof that the log was kept honestly.'),
      choice('steward', 'Data steward', 'Watch the audit ledger’s health, run the full verification and explore consent decisions.'),
    ),
    h('p', { class: 'muted' }, 'You sign in at this server’s own SMART authorization page; the console keeps no password.'),
  );
}

function showSession(config: ConsoleConfig, session: Session): void {
  render(
    nav,
    h('span', { class: 'who' }, session.mode === 'patient' ? `Patient/${session.patient}` : `Data steward${session.fhirUser ? ` (${session.fhirUser})` : ''}`),
    h(
      'button',
      {
        type: 'button',
        id: 'sign-out',
        onclick: () => {
          signOut();
          showSignIn(config);
        },
      },
      'Sign out',
    ),
  );
}

async function showPatient(fhir: Fhir, patientId: string): Promise<void> {
  const patient = await fhir.get<Json>(`Patient/${encodeURIComponent(patientId)}`);
  const name = (patient.name as { given?: string[]; family?: string }[] | undefined)?.[0];
  const grid = new ConsentGrid(fhir, patientId);
  const log = new AccessLog(fhir, patientId);
  render(main, h('h1', {}, `My record: ${[...(name?.given ?? []), name?.family].filter(Boolean).join(' ') || patientId}`), grid.element(), log.element());
  await Promise.all([grid.load(), log.load()]);
}

async function showSteward(fhir: Fhir, config: ConsoleConfig): Promise<void> {
  const view = new StewardView(fhir, sameOrigin(`${new URL(config.fhirBaseUrl).origin}/ledger/status`));
  render(main, h('h1', {}, 'Data steward'), view.element());
  await view.loadStatus();
}

void boot();
