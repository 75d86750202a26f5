import { Column, type ValueTransformer } from 'typeorm';

/**
 * Instants are stored as epoch milliseconds in a `bigint` column: one type that sorts and
 * compares the same on SQLite and PostgreSQL (the pg driver returns bigint as a string).
 */
const epochMs: ValueTransformer = {
  to: (value: Date | null | undefined) => (value instanceof Date ? value.getTime() : value),
  from: (value: string | number | null) => (value === null || value === undefined ? null : new Date(Number(value))),
};

/** A `Date` property stored as epoch milliseconds. */
export function TimeColumn(name: string, options: { nullable?: boolean } = {}): PropertyDecorator {
  return Column({ name, type: 'bigint', nullable: options.nullable ?? false, transformer: epochMs });
}
