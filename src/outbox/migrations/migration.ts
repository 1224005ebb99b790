// A schema change, applied once per store in version order and recorded in schema_migrations.
// Versions only ever grow; an applied migration is never edited (add a new one instead).
export type Migration = { version: number; name: string; sql: string };

/** Checks the list is strictly increasing from 1, so a typo cannot skip or reorder a step. */
export function checkMigrations<M extends Migration>(list: M[]): M[] {
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name}: version ${m.version}, expected ${i + 1}`);
  });
  return list;
}
