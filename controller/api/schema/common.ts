// Schema pieces shared by both kinds.
import { enumOf, int, list, obj, str, type Schema } from './dsl.ts';

export const GROUP = 'virtfleet.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
// Go's time.ParseDuration syntax, which the controller parses.
const DURATION = '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$';

export const dnsLabel = (description: string, maxLength = 63): Schema =>
  str(description, { maxLength, minLength: 1, pattern: DNS_LABEL });

export const resourceName = (description: string): Schema =>
  str(description, { maxLength: 253, minLength: 1, pattern: DNS_SUBDOMAIN });

export const duration = (description: string, defaultValue?: string): Schema =>
  str(description, { maxLength: 32, pattern: DURATION, default: defaultValue });

// Five cron fields (minute hour day-of-month month day-of-week) or a @-macro, as CronJob accepts.
export const cronSchedule = (description: string): Schema =>
  str(description, {
    maxLength: 128,
    minLength: 1,
    rules: [
      {
        rule: "self.matches('^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$') || self.split(' ').filter(f, f != '').size() == 5",
        message: 'must be a cron expression with five fields (minute hour day-of-month month day-of-week) or an @-macro such as @daily',
      },
    ],
  });

export const localObjectRef = (description: string): Schema =>
  obj(description, { name: resourceName('Name of the object in the same namespace.') }, { required: ['name'] });

export const configMapKeyRef = (description: string): Schema =>
  obj(
    description,
    {
      name: resourceName('Name of the ConfigMap in the same namespace.'),
      key: str('Key in the ConfigMap holding the PEM bundle; defaults to ca.crt.', { maxLength: 253, default: 'ca.crt' }),
    },
    { required: ['name'] },
  );

export const digest = (description: string): Schema =>
  str(description, { maxLength: 71, pattern: '^sha256:[a-f0-9]{64}$' });

export const checksum = (description: string): Schema =>
  str(description, { maxLength: 135, pattern: '^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$' });

/** metav1.Condition, as `kubectl wait --for=condition=…` and kstatus read it. */
export const conditions = (description: string): Schema =>
  list(
    description,
    obj(
      'A condition in metav1.Condition form.',
      {
        type: str('Type of the condition in CamelCase, for example Ready.', { maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' }),
        status: enumOf('Status of the condition: True, False or Unknown.', ['True', 'False', 'Unknown']),
        observedGeneration: int('The metadata.generation the condition was computed from.', { minimum: 0, format: 'int64' }),
        lastTransitionTime: str('When the condition last changed status.', { maxLength: 64, format: 'date-time' }),
        reason: str('A CamelCase reason for the condition\'s last transition.', { maxLength: 1024, minLength: 1, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
        message: str('A human-readable message about the transition.', { maxLength: 32768 }),
      },
      { required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'] },
    ),
    { maxItems: 32, mapKeys: ['type'] },
  );

export const observedGeneration = (): Schema =>
  int('The metadata.generation this status was computed from.', { minimum: 0, format: 'int64' });
