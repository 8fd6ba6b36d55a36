// Objects kept so that V8 keeps their classes' hidden classes (maps). Data only: nothing reads them.
// Why: a memory-reducing GC (V8's memory reducer runs them once the heap has been quiet for ~8 s)
// collects every map no live object uses, and optimized code that checks one is thrown away
// ("embedded weak objects cleared"). A class's map with all its fields is reachable only through
// its constructor's transitions, which are weak, so after an idle spell that closed every
// connection the whole request path ran in the interpreter again until V8 optimized it anew: for
// 1 MiB downloads (~2,000 a second) that took the next ~8 s, at 31-37 user µs per request against
// 12-18 (`--trace-deopt`, 2026-12-06).

const KEPT: object[] = [];

/**
 * Keeps `sample` for the life of the process, and with it the map of every object shaped like it.
 * For classes made per request, whose instances are all gone between busy spells.
 * @param sample an instance made as the class's others are, holding nothing of note
 * @returns the sample
 */
export function keepShape<T extends object>(sample: T): T {
  KEPT.push(sample);
  return sample;
}
