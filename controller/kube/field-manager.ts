// The one field manager of everything VirtFleet's controllers apply (server-side apply), so that
// every controller of the process owns its fields under one name.
export const FIELD_MANAGER = 'virtfleet';
