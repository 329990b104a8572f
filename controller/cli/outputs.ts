// The -o formats of plan and status: the program declares them as the flags' choices (commander
// refuses any other, and completion offers these), and the renderers take them.
export const PLAN_OUTPUTS = ['table', 'json', 'yaml'] as const;
export type PlanOutput = (typeof PLAN_OUTPUTS)[number];

export const STATUS_OUTPUTS = ['table', 'json'] as const;
export type StatusOutput = (typeof STATUS_OUTPUTS)[number];
