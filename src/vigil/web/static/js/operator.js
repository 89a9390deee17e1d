// Who is at the console: until Vigil has users, the operator types a name once; it is kept in
// localStorage and sent with every alarm action (as `operator` or `author`).

import { promptDialog } from './ui.js';

const KEY = 'vigil.operator';

export function operatorName() {
  return localStorage.getItem(KEY) || null;
}

/** The operator's name, asking for it first when unknown; null when the operator cancels. */
export async function requireOperator() {
  return operatorName() ?? changeOperator();
}

/** Ask for (another) name and keep it; resolves to it, or to null when cancelled. */
export async function changeOperator() {
  const name = await promptDialog('Your name, as other operators will see it on alarms:', {
    ok: 'Save', value: operatorName() ?? '', placeholder: 'e.g. J. Smith', testid: 'operator-dialog',
  });
  if (!name) return operatorName();
  localStorage.setItem(KEY, name);
  window.dispatchEvent(new CustomEvent('vigil:operator', { detail: name }));
  return name;
}
