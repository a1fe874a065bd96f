/**
 * Spec errors and the zod helpers that produce them: every builder and spec file reports bad
 * fields as `invalid model spec:` lines naming the field and, for enums, the valid values.
 */
import type { z } from 'zod';
import { UserError } from '../user-error.ts';

export class SpecError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'SpecError';
  }
}

/** zod issues as lines naming each field (under `prefix`) and, for enums, the valid values. */
export function formatIssues(issues: z.core.$ZodIssue[], prefix: string[] = []): string[] {
  return issues.map((iss) => {
    const full = [...prefix, ...iss.path.map(String)];
    const path = full.length ? full.join('.') : '<spec>';
    const i = iss as { values?: unknown[]; options?: unknown[]; discriminator?: string };
    const values = i.values ?? i.options;
    if (i.options && i.discriminator) return `  ${path}: unknown ${i.discriminator} (valid: ${i.options.map((v) => JSON.stringify(v)).join(', ')})`;
    const valid = values ? ` (valid: ${values.map((v) => JSON.stringify(v)).join(', ')})` : '';
    return `  ${path}: ${iss.message}${valid}`;
  });
}

/** A builder's part of a spec, validated with errors in parseSpec's form (`where` prefixes the fields). */
export function parsePart<T extends z.ZodType>(schema: T, input: unknown, where: string): z.infer<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new SpecError(`invalid model spec:\n${formatIssues(r.error.issues, [where]).join('\n')}`);
}
