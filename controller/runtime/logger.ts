// The structured logger every long-running part takes (the controller's JSON lines, tests' quiet ones).
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}
