// How a fleetcap process starts another one from its entry module. The compiled build (dist/*.js) runs on plain
// node. The sources (src/*.ts) run through tsx with the fleetcap-source condition, under which every @fleetcap/*
// import resolves to sources as well (each package's exports: fleetcap-source -> src/*.ts, default -> dist/*.js).
export const SOURCE_CONDITION = 'fleetcap-source';

/** The node options that run TypeScript sources: tsx, and the condition that picks the sources of every package. */
export const SOURCE_EXEC_ARGV: readonly string[] = ['--import', 'tsx', `--conditions=${SOURCE_CONDITION}`];

/**
 * The node options an entry module needs: none for compiled JavaScript (a fork must not inherit tsx from its
 * parent), tsx and the source condition for a .ts file.
 */
export function execArgvFor(entry: string): string[] {
  return entry.endsWith('.ts') ? [...SOURCE_EXEC_ARGV] : [];
}
