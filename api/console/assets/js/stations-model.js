// How the console classifies a station at a glance.

export function stationState(s) {
  if (s.onboarding === 'pending' || s.registrationStatus === 'Pending') return 'pending';
  if (!s.connected) return 'offline';
  if (s.status === 'Faulted' || (s.connectors || []).some((c) => c.status === 'Faulted')) return 'faulted';
  return 'online';
}

export const stateLabel = { online: 'Online', offline: 'Offline', faulted: 'Faulted', pending: 'Pending' };
export const stateKind = { online: 'ok', offline: 'idle', faulted: 'bad', pending: 'warn' };

export function connectorLabel(c) {
  return c.evseId ? `${c.evseId}/${c.connectorId}` : `${c.connectorId}`;
}
