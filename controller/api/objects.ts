// The VirtFleet kinds as whole objects (metadata, spec, status), as the controllers read them.
import type { GoldenImageSpec, GoldenImageStatus, VMFleetSpec, VMFleetStatus } from './generated/types.ts';

interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: Date | string;
  deletionTimestamp?: Date | string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface VMFleet {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: VMFleetSpec;
  status?: VMFleetStatus;
}

export interface GoldenImage {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: GoldenImageSpec;
  status?: GoldenImageStatus;
}
